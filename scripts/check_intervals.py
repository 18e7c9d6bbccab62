"""Does a fresh run's every interval-carrying number fall inside the committed run's interval?

    python scripts/check_intervals.py COMMITTED_REPORTS FRESH_REPORTS [--json out.json]

Both arguments are ``reports/`` folders (e.g. a fresh clone's after ``./scripts/run.sh``, and this
checkout's, or ``git worktree add /tmp/committed HEAD`` for the committed one). Every JSON file
under ``<dataset>/`` is walked; each dict holding ``mean``, ``lo`` and ``hi`` (a 95 % bootstrap
interval, :mod:`jaxconcepts.evaluation._intervals`) is one headline number, matched by file and
key path. A number is *inside* when the fresh mean lies in the committed ``[lo, hi]``. Prints one
line per number and a summary; exits 1 when any number is outside or missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def intervals(obj, path=()):
    """``{key path: {"mean", "lo", "hi"}}`` of every interval dict inside ``obj``."""
    out = {}
    if isinstance(obj, dict):
        if ({"mean", "lo", "hi"} <= set(obj)
                and None not in (obj["mean"], obj["lo"], obj["hi"])):  # n < 2: no interval
            out[path] = obj
        for k, v in obj.items():
            out.update(intervals(v, path + (str(k),)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            key = v.get("class", i) if isinstance(v, dict) else i
            out.update(intervals(v, path + (str(key),)))
    return out


def collect(root: Path) -> dict:
    found = {}
    for f in sorted(root.glob("*/*.json")):
        if f.parent.name == "benchmarks":
            continue
        for p, d in intervals(json.loads(f.read_text())).items():
            found[(f.relative_to(root).as_posix(),) + p] = d
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("committed", type=Path)
    ap.add_argument("fresh", type=Path)
    ap.add_argument("--json", type=Path, help="write the comparison here")
    args = ap.parse_args(argv)
    ref, new = collect(args.committed), collect(args.fresh)
    rows, bad = [], 0
    for key, r in ref.items():
        n = new.get(key)
        inside = n is not None and r["lo"] - 1e-12 <= n["mean"] <= r["hi"] + 1e-12
        bad += not inside
        rows.append({"number": "/".join(key), "committed": r,
                     "fresh": None if n is None else n["mean"], "inside": inside})
        print(f"{'ok ' if inside else 'OUT'} {'/'.join(key)}: committed {r['mean']:.4f} "
              f"[{r['lo']:.4f}, {r['hi']:.4f}], fresh "
              + ("missing" if n is None else f"{n['mean']:.4f}"))
    print(f"{len(rows) - bad} of {len(rows)} numbers inside the committed intervals")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "outside": bad}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
