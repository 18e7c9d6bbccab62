"""Benchmark: the streamed SAE's peak memory from 0.5 M to 6.5 M rows.

``fit_sae_streamed`` (TopK, ``--width`` latents, ``--sae-k`` active, ``--epochs`` pass(es),
``--images-per-batch`` images of 64 rows a step, Adam at the library's defaults, AuxK on dead
latents) on float16 stores of ``--sizes`` rows × ``--channels`` channels, each fit in a fresh
child process that reports its own peak RSS (``VmHWM``), the seconds of each pass, the rows it
processed and the steps (the first pass includes the start: the initialisation sample and
compilation). The stores are ``benchmarks/scale.py``'s (planted non-negative rows,
8 × 8 positions per image; one reused when present under ``--data-dir``). They are written one at
a time, each just before its run, after checking the disk has room for it (a 6.5 M × 2048 float16
store is 26.6 GB); ``--delete-data`` removes each store after its run. The target: the
largest store's peak RSS at most 1.25 × the smallest's.

Usage: ``python -m benchmarks sae_scale [--sizes 500000,6500000] [--delete-data]``; small:
``--sizes 20000,80000 --channels 256``. Writes ``reports/benchmarks/sae_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.scale import HW, _store_path, _vm_hwm, ensure_store

ROOT = Path(__file__).resolve().parents[1]


def child(argv):
    """One streamed SAE fit in this process; prints a ``RESULT {json}`` line."""
    import jax

    from jaxconcepts.store import RowsView
    from jaxconcepts.sae import fit_sae_streamed

    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--images-per-batch", type=int, required=True)
    a = ap.parse_args(argv)
    rows = RowsView(a.store, images_per_batch=a.images_per_batch)
    t0 = time.perf_counter()
    marks = [t0]

    def cb(epoch, loss):
        marks.append(time.perf_counter())

    m = fit_sae_streamed(rows, method="topk", width=a.width, k=a.k, key=jax.random.key(0),
                         epochs=a.epochs, callback=cb)
    total = time.perf_counter() - t0
    passes = [b - a_ for a_, b in zip(marks, marks[1:])]
    n_img = rows.n_rows // rows.rows_per_image
    out = {"rows": rows.n_rows, "rows_processed": rows.n_rows * a.epochs,
           "steps_per_pass": -(-n_img // a.images_per_batch),
           "rows_per_step": a.images_per_batch * rows.rows_per_image,
           "seconds_total": total, "seconds_per_pass": passes,
           "rows_per_s": rows.n_rows * len(passes) / sum(passes),
           "loss_history": m.loss_history.tolist(), "dead_history": m.dead_history.tolist(),
           "peak_rss_bytes": _vm_hwm()}
    print("RESULT " + json.dumps(out), flush=True)


def _run(args, store) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-m", "benchmarks.sae_scale", "--child", str(store),
           "--width", str(args.width), "--k", str(args.sae_k), "--epochs", str(args.epochs),
           "--images-per-batch", str(args.images_per_batch)]
    load0 = os.getloadavg()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if proc.returncode:
        raise RuntimeError(f"child {cmd} failed with exit code {proc.returncode}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT "):])
    res["load_average_before_after"] = [load0, os.getloadavg()]
    print(f"  rows={res['rows']}: peak RSS {res['peak_rss_bytes'] / 2**30:.2f} GiB, passes "
          f"{[round(t, 1) for t in res['seconds_per_pass']]} s, {res['rows_per_s']:.0f} rows/s",
          flush=True)
    return res


def _check_disk(args, n_rows):
    """ValueError if the store for ``n_rows`` is absent and the disk has no room for it."""
    if (_store_path(args, n_rows) / "manifest.json").is_file():
        return
    need = (-(-n_rows // (HW[0] * HW[1]))) * HW[0] * HW[1] * args.channels * 2
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(args.data_dir).free
    if free < need * 1.05:
        raise ValueError(f"--data-dir {args.data_dir} has {free / 1e9:.1f} GB free; the store "
                         f"of {n_rows} rows × {args.channels} float16 needs {need / 1e9:.1f} GB "
                         "(delete other stores there, or pass --delete-data)")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m benchmarks sae_scale")
    ap.add_argument("--sizes", default="500000,6500000")
    ap.add_argument("--channels", type=int, default=2048)
    ap.add_argument("--classes", type=int, default=1000, help="store's classes (planted)")
    ap.add_argument("--k", type=int, default=50, help="store's planted concepts")
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--sae-k", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--images-per-batch", type=int, default=64, help="64 rows each")
    ap.add_argument("--data-dir", default="/work/scale_data")
    ap.add_argument("--delete-data", action="store_true")
    ap.add_argument("--out", default="reports/benchmarks/sae_scale.json")
    args = ap.parse_args(argv)
    from benchmarks._common import machine_info
    from jaxconcepts.io import write_json

    report = {"benchmark": "sae_scale", "args": vars(args), "machine": machine_info(),
              "load_before": os.getloadavg(), "runs": []}
    for n in [int(float(s)) for s in args.sizes.split(",")]:
        _check_disk(args, n)
        t0 = time.perf_counter()
        store = ensure_store(args, n)
        t_write = time.perf_counter() - t0
        res = _run(args, store)
        res["store_seconds"] = t_write  # writing it, or 0 if it was there
        report["runs"].append(res)
        write_json(args.out, report)  # partial results survive an interrupted run
        if args.delete_data:
            shutil.rmtree(store)
    rss = [r["peak_rss_bytes"] for r in report["runs"]]
    report["peak_rss_ratio_largest_vs_smallest"] = rss[-1] / rss[0]
    report["target_ratio"] = 1.25
    report["load_after"] = os.getloadavg()
    write_json(args.out, report)
    print(f"peak RSS largest / smallest = {rss[-1] / rss[0]:.3f} (target <= 1.25); wrote "
          f"{args.out}")
    return report


if __name__ == "__main__":
    main()
