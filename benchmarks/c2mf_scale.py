"""Benchmark: streamed C2MF to convergence on ImageNet-val-sized stores.

Synthetic float16 stores (``benchmarks/scale.py``'s: planted non-negative rows, 8 × 8 positions
per image, ``--channels`` channels, ``--classes`` classes, written once under ``--data-dir``) of
each size in ``--sizes`` rows. On each, in fresh child processes on ``--devices`` forced CPU
devices, ``fit_c2mf_streamed`` (k = ``--k``, alpha 0.01, 30 code sweeps, 10 gate steps and
10 dictionary sweeps per round, 65 536 sampled rows) runs under three schedules:

- ``today``: one block step per pass from sampled rows (``stat_rounds=1, init_steps=0,
  extrapolate=False``), the schedule before this benchmark;
- ``default``: the library's defaults (5 rounds on each pass's sums, extrapolation);
- ``warm``: the defaults plus a warm start (40 in-memory iterations on the sampled rows);
- ``online``: the defaults plus an online first pass (a group per 1/8 of the shards).
- ``default_long``: the defaults for ``--long-passes`` passes (none at 0.5 M rows by default),
  so that the reference below comes closer to the converged objective.

Each run reports its objective after every pass and the seconds since the fit began (start
included). The **reference** is the lowest objective any schedule reached on that store (the
converged objective as far as this run knows; each run's last objective is reported against it),
and each schedule's **time to within 1 %** is the first time its objective was ≤ 1.01 × the
reference (None if it never was within its passes: then at least its total time). Peak RSS is
the child's ``VmHWM``.

Usage: ``python -m benchmarks c2mf_scale [--sizes 500000,3200000] [--passes-today 40,22]
[--passes 16,10] [--long-passes 0,24]``; ``--merge`` reruns only the given sizes and schedules
and keeps the other runs of the JSON. Writes ``reports/benchmarks/c2mf_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from benchmarks.scale import ensure_store, run_child

SCHEDULES = {
    "today": ("--stat-rounds", "1", "--init-steps", "0", "--no-extrapolate"),
    "default": (),
    "warm": ("--init-steps", "40"),
    "online": None,  # the defaults + --update-shards (a group per 1/8 of the shards)
    "default_long": (),  # the defaults for --long-passes passes: a lower reference objective
}


def _n_shards(store) -> int:
    return len(json.loads((store / "manifest.json").read_text())["shards"])


def summarise(runs: dict) -> dict:
    """Reference objective, each schedule's time and passes to within 1 %, ratios to ``today``."""
    ref = min(min(r["history"]) for r in runs.values())
    out = {"reference_objective": ref, "schedules": {}}
    for name, r in runs.items():
        t = r["seconds_init"] + np.cumsum(r["seconds_per_pass"])
        hit = np.flatnonzero(np.asarray(r["history"]) <= 1.01 * ref)
        out["schedules"][name] = {
            "passes_run": len(r["history"]),
            "seconds_total": float(t[-1]),
            "seconds_start": r["seconds_init"],
            "seconds_per_pass_median": float(np.median(r["seconds_per_pass"])),
            "passes_to_1pct": int(hit[0] + 1) if hit.size else None,
            "seconds_to_1pct": float(t[hit[0]]) if hit.size else None,
            "last_objective_vs_reference": r["history"][-1] / ref - 1.0,
            "best_objective_vs_reference": min(r["history"]) / ref - 1.0,
            "peak_rss_bytes": r["peak_rss_bytes"],
        }
    s = out["schedules"]
    for name in s if "today" in s else ():
        a, b = s["today"]["seconds_to_1pct"], s[name]["seconds_to_1pct"]
        # today never within 1 %: its total time is a lower bound on its time to 1 %
        s[name]["speedup_vs_today"] = (a / b) if a and b else None
        s[name]["speedup_vs_today_at_least"] = (s["today"]["seconds_total"] / b
                                                if a is None and b else None)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m benchmarks c2mf_scale")
    ap.add_argument("--sizes", default="500000,3200000")
    ap.add_argument("--passes-today", default="40,22", help="passes of `today`, per size")
    ap.add_argument("--passes", default="16,10", help="passes of the other schedules, per size")
    ap.add_argument("--schedules", default="today,default,warm,online,default_long")
    ap.add_argument("--long-passes", default="0,24",
                    help="passes of `default_long` per size (0: not run)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the runs of --out's other schedules and sizes (rerun only these)")
    ap.add_argument("--channels", type=int, default=2048)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--data-dir", default="/work/scale_data")
    ap.add_argument("--out", default="reports/benchmarks/c2mf_scale.json")
    args = ap.parse_args(argv)
    from benchmarks._common import machine_info
    from jaxconcepts.io import write_json

    sizes = [int(float(s)) for s in args.sizes.split(",")]
    p_today = [int(p) for p in args.passes_today.split(",")]
    p_other = [int(p) for p in args.passes.split(",")]
    p_long = [int(p) for p in args.long_passes.split(",")]
    report = {"args": vars(args), "machine": machine_info(), "load_before": os.getloadavg(),
              "gpu": "no GPU was lent to this session: CPU figures only", "sizes": {}}
    if args.merge and Path(args.out).is_file():
        old = json.loads(Path(args.out).read_text())
        report["sizes"] = old["sizes"]
        report["merged"] = old.get("merged", []) + [{"args": old["args"],
                                                      "load_before": old["load_before"]}]
    for i, n in enumerate(sizes):
        store = ensure_store(args, n)
        runs = dict(report["sizes"].get(str(n), {}).get("runs", {}))
        for name in args.schedules.split(","):
            extra = SCHEDULES[name]
            if extra is None:
                extra = ("--update-shards", str(max(1, _n_shards(store) // 8)))
            passes = {"today": p_today, "default_long": p_long}.get(name, p_other)[i]
            if passes == 0:
                continue
            print(f"{n} rows, {name}: {passes} passes", flush=True)
            runs[name] = run_child(args, store, "c2mf", passes=passes, devices=args.devices,
                                   extra=extra)
            report["sizes"][str(n)] = {"rows": runs[name]["rows"], "runs": runs,
                                       **summarise(runs)}
            write_json(args.out, report)  # partial results survive an interrupted run
        for name, s in report["sizes"][str(n)]["schedules"].items():
            print(f"  {name}: to 1 % in {s['seconds_to_1pct']} s ({s['passes_to_1pct']} "
                  f"passes), last {100 * s['last_objective_vs_reference']:+.2f} %", flush=True)
    d = [report["sizes"][n]["schedules"].get("default")
         for n in sorted(report["sizes"], key=int)]
    if len(d) > 1 and all(d):
        report["default_peak_rss_ratio_largest_vs_smallest"] = (d[-1]["peak_rss_bytes"]
                                                                / d[0]["peak_rss_bytes"])
    report["load_after"] = os.getloadavg()
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
