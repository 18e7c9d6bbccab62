"""Benchmark: dictionary methods streamed from stores larger than memory.

1. **Flat memory.** Synthetic float16 stores (non-negative planted rows, ``--classes`` classes,
   8 × 8 positions per image, ``--channels`` channels) of each size in ``--sizes`` rows are
   written once under ``--data-dir`` (reused when present). Streamed C2MF and streamed per-class
   NMF (the pipeline's schedule: online first pass, ``--nmf-update-shards``) run ``--passes``
   passes each in a fresh child process, which reports its own peak RSS
   (``VmHWM``) and rows/s (passes after the first, which includes compilation).
2. **Speed at equal quality.** On the smallest store, one NMF of all rows (one class): scikit-
   learn's ``MiniBatchNMF`` fed batch by batch with ``partial_fit`` for ``--sk-epochs`` epochs
   (its out-of-core way), its error ``‖A − UH‖_F / ‖A‖_F`` measured afterwards with its own
   ``transform``, streamed; then our streamed NMF's time until its per-pass error is ≤ that.
3. **Scale-out.** Streamed C2MF on the smallest store with 1 vs 2 forced CPU devices, and with
   1 vs 2 processes (``jax.distributed`` on 127.0.0.1, gloo collectives): same dictionary (max
   abs difference reported) and throughput.

Usage: ``python -m benchmarks scale [--sizes 500000,2000000,6500000] [--passes 2]
[--delete-data]``; small: ``--sizes 20000,80000 --channels 256``.
Writes ``reports/benchmarks/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HW = (8, 8)


def _vm_hwm() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return -1


def _store_path(args, n_rows) -> Path:
    return Path(args.data_dir) / f"store_{n_rows}x{args.channels}_y{args.classes}_k{args.k}"


def ensure_store(args, n_rows) -> Path:
    from jaxconcepts.streaming import write_synthetic_store

    p = _store_path(args, n_rows)
    if (p / "manifest.json").is_file():
        return p
    t0 = time.perf_counter()
    n_img = -(-n_rows // (HW[0] * HW[1]))
    write_synthetic_store(p, n_images=n_img, channels=args.channels, hw=HW, k=args.k,
                          n_classes=args.classes, images_per_shard=256, dtype="float16",
                          noise=0.05, nonnegative=True, seed=0)
    print(f"wrote {p} ({n_img} images) in {time.perf_counter() - t0:.0f} s", flush=True)
    return p


def child(argv):
    """One fit in this process; prints a JSON line."""
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    from jaxconcepts.store import RowsView
    from jaxconcepts.streaming import (data_mesh, fit_c2mf_streamed, fit_nmf_streamed,
                                       initialize_distributed)

    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("method", choices=["c2mf", "nmf", "nmf1"])
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--save")
    ap.add_argument("--code-sweeps", type=int, default=30)
    ap.add_argument("--init-rows", type=int, default=65536)
    ap.add_argument("--update-shards", type=int, default=None)
    ap.add_argument("--forget", type=float, default=0.0)
    ap.add_argument("--target-error", type=float, default=None)
    ap.add_argument("--stat-rounds", type=int, default=5)
    ap.add_argument("--init-steps", type=int, default=0)
    ap.add_argument("--no-extrapolate", action="store_true")
    ap.add_argument("--tol", type=float, default=0.0)
    a = ap.parse_args(argv)
    initialize_distributed()
    mesh = data_mesh()
    rows = RowsView(a.store, images_per_batch=32 * jax.local_device_count(),
                    process_index=jax.process_index(), process_count=jax.process_count())
    n_rows = rows.n_rows
    times, hist = [], []

    def cb(step, loss, secs):
        times.append(secs)
        hist.append(loss)

    updates, snaps = [], {}

    def on_update(t, W, err):  # online NMF: when each dictionary existed, kept for checking
        updates.append({"t": t, "seconds": time.perf_counter() - t0, "group_error": err})
        if a.target_error is not None:  # only to check against a target: O(groups) memory
            snaps[t] = W

    t0 = time.perf_counter()
    if a.method == "c2mf":
        m = fit_c2mf_streamed(rows, a.k, key=jax.random.key(0), alpha=0.01, max_steps=a.passes,
                              tol=a.tol, code_sweeps=a.code_sweeps, gate_steps=10, dict_sweeps=10,
                              learning_rate=0.05, init_rows=a.init_rows, mesh=mesh, callback=cb,
                              stat_rounds=a.stat_rounds, init_steps=a.init_steps,
                              extrapolate=not a.no_extrapolate, update_shards=a.update_shards)
        W = np.asarray(m.W)
    else:
        view = rows
        if a.method == "nmf1":  # one NMF of all rows (one class), as scikit-learn fits
            view = RowsView(a.store, images_per_batch=rows.images_per_batch,
                            process_index=jax.process_index(), process_count=jax.process_count(),
                            classes=np.zeros(n_rows // rows.rows_per_image, np.int64))
        m = fit_nmf_streamed(view, a.k, key=jax.random.key(0), max_steps=a.passes, tol=0.0,
                             code_sweeps=a.code_sweeps, dict_sweeps=10, init_rows=a.init_rows,
                             update_shards=a.update_shards, forget=a.forget, mesh=mesh,
                             callback=cb, on_update=on_update)
        W = np.asarray(m.W)
    total = time.perf_counter() - t0
    if a.target_error is not None and updates:  # untimed: the snapshots' errors over all rows
        from jaxconcepts.streaming import nmf_error

        # the dictionary of update t is first used on group t + 1, whose error estimates it
        for u, nxt in zip(updates, updates[1:] + [{"group_error": 0.0}]):
            if nxt["group_error"] > 1.01 * a.target_error:
                continue
            u["error_all_rows"] = nmf_error(snaps[u["t"]], view, code_sweeps=a.code_sweeps,
                                            mesh=mesh)
            if u["error_all_rows"] <= a.target_error:
                break
    steady = times[1:] if len(times) > 1 else times
    out = {"method": a.method, "rows": n_rows, "passes": len(times), "seconds_total": total,
           "seconds_init": total - sum(times), "seconds_per_pass": times,
           "rows_per_s": n_rows * len(steady) / sum(steady), "history": hist,
           "peak_rss_bytes": _vm_hwm(), "devices": len(mesh.devices.flat),
           "processes": jax.process_count(), "online_updates": updates}
    if a.save and jax.process_index() == 0:
        np.save(a.save, W)
    if jax.process_index() == 0:
        print("RESULT " + json.dumps(out), flush=True)


def run_child(args, store, method, *, passes, devices=1, processes=1, save=None, extra=()):
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    cmd = [sys.executable, "-m", "benchmarks.scale", "--child", str(store), method,
           "--passes", str(passes), "--k", str(args.k)] + (["--save", str(save)] if save else []) \
        + list(extra)
    if processes == 1:
        procs = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)]
    else:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=dict(
            env, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES=str(processes),
            JAX_PROCESS_ID=str(i))) for i in range(processes)]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"child {cmd} failed: {[p.returncode for p in procs]}")
    line = [ln for ln in outs[0].splitlines() if ln.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT "):])
    print(f"  {method} rows={res['rows']} dev={devices} proc={processes}: "
          f"{res['rows_per_s']:.0f} rows/s, peak RSS {res['peak_rss_bytes'] / 2**30:.2f} GiB, "
          f"passes {[round(t, 1) for t in res['seconds_per_pass']]} s", flush=True)
    return res


def sklearn_minibatch(args, store):
    """MiniBatchNMF by partial_fit over the stream; returns (seconds, error)."""
    from sklearn.decomposition import MiniBatchNMF

    from jaxconcepts.store import RowsView

    rows = RowsView(store, images_per_batch=32)
    c = rows.channels
    est = MiniBatchNMF(n_components=args.k, batch_size=32 * 64, random_state=0, max_iter=1)
    t0 = time.perf_counter()
    for _ in range(args.sk_epochs):
        for b in rows:
            X = b.A[b.valid].reshape(-1, c)
            if len(X):
                est.partial_fit(X)
    secs = time.perf_counter() - t0
    num = den = 0.0
    for b in rows:
        X = b.A[b.valid].reshape(-1, c)
        if len(X):
            R = X - est.transform(X) @ est.components_
            num += float(np.vdot(R, R))
            den += float(np.vdot(X, X))
    return secs, float(np.sqrt(num / den))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m benchmarks scale")
    if argv and argv[0] == "--child":
        return child(argv[1:])
    ap.add_argument("--sizes", default="500000,2000000,6500000")
    ap.add_argument("--channels", type=int, default=2048)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--nmf-passes", type=int, default=15, help="max passes, sklearn comparison")
    ap.add_argument("--nmf-code-sweeps", type=int, default=200,
                    help="most code sweeps per batch (they stop at convergence), sklearn "
                         "comparison (the pipeline's c2mf.nmf_code_sweeps)")
    ap.add_argument("--nmf-init-rows", type=int, default=8192,
                    help="rows of the in-memory start, sklearn comparison (sklearn starts from "
                         "its first batch of 2048)")
    ap.add_argument("--nmf-update-shards", type=int, default=1,
                    help="online NMF: W updated after every group of this many shards (the "
                         "pipeline's c2mf.nmf_update_shards); 0: one update per pass")
    ap.add_argument("--nmf-forget", type=float, default=1.0,
                    help="online NMF forgetting exponent (c2mf.nmf_forget)")
    ap.add_argument("--sk-epochs", type=int, default=1)
    ap.add_argument("--data-dir", default="/work/scale_data")
    ap.add_argument("--skip", default="", help="comma list of: memory,sklearn,scaleout")
    ap.add_argument("--memory-methods", default="c2mf,nmf", help="comma list of: c2mf,nmf")
    ap.add_argument("--delete-data", action="store_true")
    ap.add_argument("--out", default="reports/benchmarks/scale.json")
    args = ap.parse_args(argv)
    from jaxconcepts.io import write_json

    try:
        from benchmarks._common import machine_info
    except ImportError:  # pragma: no cover
        machine_info = dict
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    memory_methods = [m for m in args.memory_methods.split(",") if m]
    report = {"args": vars(args), "machine": machine_info(), "load_before": os.getloadavg()}
    stores = {}
    small = stores[sizes[0]] = ensure_store(args, sizes[0])
    if "sklearn" not in skip:
        sk_secs, sk_err = sklearn_minibatch(args, small)
        print(f"sklearn MiniBatchNMF: {args.sk_epochs} epoch(s) {sk_secs:.1f} s, error "
              f"{sk_err:.5f}", flush=True)
        online = args.nmf_update_shards > 0
        ours = run_child(args, small, "nmf1", passes=args.nmf_passes, extra=(
            "--code-sweeps", str(args.nmf_code_sweeps), "--init-rows", str(args.nmf_init_rows),
            "--target-error", str(sk_err), "--forget", str(args.nmf_forget))
            + (("--update-shards", str(args.nmf_update_shards)) if online else ()))
        hist = np.asarray(ours["history"])
        if online:  # the first update whose dictionary has sklearn's error over all rows
            hit = [u for u in ours["online_updates"] if u.get("error_all_rows", 1e30) <= sk_err]
            t_ours = hit[0]["seconds"] if hit else None
        else:
            hit = np.flatnonzero(hist <= sk_err)
            t_ours = (ours["seconds_init"] + sum(ours["seconds_per_pass"][:hit[0] + 1])
                      if hit.size else None)
        report["sklearn"] = {"rows": sizes[0], "sklearn_seconds": sk_secs,
                             "sklearn_error": sk_err, "sklearn_epochs": args.sk_epochs,
                             "ours": ours, "ours_seconds_to_sklearn_error": t_ours,
                             "ours_passes_to_sklearn_error": None if online or not hit.size
                             else int(hit[0] + 1),
                             "ours_updates_to_sklearn_error": hit[0]["t"] if online and hit
                             else None,
                             "ours_error_at_that_point": hit[0]["error_all_rows"]
                             if online and hit else (float(hist[hit[0]]) if len(hit) else None),
                             "speedup": sk_secs / t_ours if t_ours else None}
        print(f"streamed NMF reaches it in {t_ours} s: speedup "
              f"{report['sklearn']['speedup']}", flush=True)
        write_json(args.out, report)
    if "scaleout" not in skip:
        tmp = Path(args.data_dir)
        runs = {}
        for name, kw in (("1dev", {}), ("2dev", {"devices": 2}), ("2proc", {"processes": 2})):
            runs[name] = run_child(args, small, "c2mf", passes=args.passes,
                                   save=tmp / f"W_{name}.npy", **kw)
        W = {n: np.load(tmp / f"W_{n}.npy") for n in runs}
        report["scaleout"] = {
            n: {"rows_per_s": r["rows_per_s"], "devices": r["devices"],
                "processes": r["processes"],
                "max_abs_diff_W_vs_1dev": float(np.abs(W[n] - W["1dev"]).max()),
                "max_abs_W": float(np.abs(W["1dev"]).max())} for n, r in runs.items()}
        print(json.dumps(report["scaleout"], indent=1))
        write_json(args.out, report)
    if "memory" not in skip:
        mem = []
        report["memory"] = mem
        for n in sizes:
            stores[n] = ensure_store(args, n)
            for method in memory_methods:
                online = (("--update-shards", str(args.nmf_update_shards), "--forget",
                           str(args.nmf_forget))
                          if method == "nmf" and args.nmf_update_shards else ())
                mem.append(run_child(args, stores[n], method, passes=args.passes, extra=online))
                write_json(args.out, report)  # partial results survive an interrupted run
        for method in memory_methods:
            r = [m for m in mem if m["method"] == method]
            ratio = r[-1]["peak_rss_bytes"] / r[0]["peak_rss_bytes"]
            report[f"{method}_peak_rss_ratio_largest_vs_smallest"] = ratio
            print(f"{method}: peak RSS largest / smallest = {ratio:.3f} (target <= 1.25)")
    report["load_after"] = os.getloadavg()
    write_json(args.out, report)
    if args.delete_data:
        import shutil

        for p in stores.values():
            shutil.rmtree(p)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
