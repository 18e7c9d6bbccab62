"""Benchmark: jitted JAX HALS NMF (``kernels._nmf.nmf``) vs scikit-learn ``NMF(solver="cd")``.

At equal relative error ``‖A − UW‖_F / ‖A‖_F``, on the same data:

1. scikit-learn runs to its own tolerance (its default ``tol=1e-4`` and default init, NNDSVDa for
   ``k < min(n, c)``; BLAS/OpenMP threads as the caller's environment sets them, i.e. all cores
   unless ``OMP_NUM_THREADS`` & co. say otherwise — its best case on this machine) and gives the
   target error ``e_sk``.
2. The JAX solver is compiled, then run once with :func:`nmf_error_history` (the same sweeps,
   recording the error after each) to find the first sweep count ``s`` whose error is ``≤ e_sk``.
3. A fresh ``nmf(A, k, max_iter=s, tol=0)`` call on the NumPy array (host → device copy and input
   checks included, compilation excluded) is timed ``--repeats`` times; its exact error is
   recomputed from ``U, W`` like scikit-learn's and must be ``≤ e_sk`` (else ``s + 1`` is tried).

The machine is shared: load averages are recorded before and after each side. Data: non-negative
rank-k signal + ReLU noise (CRAFT-like activations). The default size is the one first measured
(50 000 × 2048, k = 10).

Writes ``reports/benchmarks/nmf.json``.
Usage: ``python -m benchmarks nmf [--n 50000 --c 2048 --k 10 --inner 10 --extrapolation 0.3]``
(defaults: that size and :func:`nmf`'s own defaults; ``--init nndsvda`` for the SVD start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np

try:
    from benchmarks._common import machine_info
except ImportError:  # pragma: no cover
    import platform

    def machine_info():
        return {"platform": platform.platform(), "cpu_count": os.cpu_count()}


def _data(n, c, k, seed):
    rng = np.random.default_rng(seed)
    A = np.abs(rng.normal(size=(n, k))) @ np.abs(rng.normal(size=(k, c)))
    A += np.maximum(rng.normal(size=(n, c)), 0) * 2.0
    return A.astype(np.float32)


def _rel_error(A, U, W, norm_a):
    """Exact ``‖A − UW‖_F / ‖A‖_F`` in float64 accumulation (same for both sides)."""
    R = A - np.asarray(U, np.float32) @ np.asarray(W, np.float32)
    return float(np.sqrt(np.einsum("ij,ij->", R, R, dtype=np.float64)) / norm_a)


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return None
    return [{"user_api": p.get("user_api"), "internal_api": p.get("internal_api"),
             "num_threads": p.get("num_threads")} for p in threadpool_info()]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--c", type=int, default=2048)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--sk-max-iter", type=int, default=200, help="scikit-learn max_iter")
    ap.add_argument("--sk-tol", type=float, default=1e-4, help="scikit-learn tol (its default)")
    ap.add_argument("--max-sweeps", type=int, default=200, help="JAX sweeps recorded at most")
    ap.add_argument("--inner", type=int, default=None, help="HALS passes per block per sweep "
                    "(default: nmf's default)")
    ap.add_argument("--extrapolation", type=float, default=None,
                    help="initial extrapolation weight (default: nmf's default; 0 = plain HALS)")
    ap.add_argument("--init", default="random", choices=["random", "nndsvda"],
                    help="JAX start (the default, random, was fastest to e_sk)")
    ap.add_argument("--repeats", type=int, default=3, help="timed JAX runs (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="reports/benchmarks/nmf.json")
    args = ap.parse_args(argv)

    import inspect

    import jax
    from sklearn.decomposition import NMF

    from jaxconcepts.io import write_json
    from jaxconcepts.kernels import nmf, nmf_error_history

    defaults = inspect.signature(nmf).parameters
    inner = defaults["inner"].default if args.inner is None else args.inner
    extrapolation = (defaults["extrapolation"].default if args.extrapolation is None
                     else args.extrapolation)
    opts = {"inner": inner, "extrapolation": extrapolation, "init": args.init}

    A = _data(args.n, args.c, args.k, args.seed)
    norm_a = float(np.sqrt(np.einsum("ij,ij->", A, A, dtype=np.float64)))

    # ---- scikit-learn reference
    load_sk0 = os.getloadavg()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = NMF(args.k, solver="cd", max_iter=args.sk_max_iter, tol=args.sk_tol,
                 random_state=args.seed)
        t0 = time.perf_counter()
        U_sk = sk.fit_transform(A)
        t_sk = time.perf_counter() - t0
    load_sk1 = os.getloadavg()
    e_sk = _rel_error(A, U_sk, sk.components_, norm_a)
    sk_init = sk.init if sk.init is not None else (
        "nndsvda" if args.k <= min(A.shape) else "random")
    print(f"sklearn cd: {t_sk:.2f} s, {sk.n_iter_} it, rel {e_sk:.6f}  (load {load_sk1[0]:.2f})",
          flush=True)
    del U_sk

    # ---- JAX: compile, record the error per sweep, then time exactly the sweeps needed
    key = jax.random.key(args.seed)
    t0 = time.perf_counter()
    nmf(A, args.k, key=key, max_iter=1, tol=0.0, **opts).W.block_until_ready()
    t_compile = time.perf_counter() - t0
    _, hist = nmf_error_history(A, args.k, key=key, n_sweeps=args.max_sweeps, **opts)
    hist = np.asarray(hist)
    hits = np.flatnonzero(hist <= e_sk)
    sweeps = int(hits[0]) + 1 if hits.size else args.max_sweeps
    print(f"jax history: error {hist[sweeps - 1]:.6f} after {sweeps} sweeps "
          f"(final {hist[-1]:.6f} after {args.max_sweeps})", flush=True)

    load_jax0 = os.getloadavg()
    for _attempt in range(5):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            r = nmf(A, args.k, key=key, max_iter=sweeps, tol=0.0, **opts)
            r.W.block_until_ready()
            times.append(time.perf_counter() - t0)
        e_jax = _rel_error(A, r.U, r.W, norm_a)
        if e_jax <= e_sk or not hits.size or sweeps >= args.max_sweeps:
            break
        sweeps += 1  # the Gram-form error of the history and the exact one differ in float32
    load_jax1 = os.getloadavg()
    t_jax = statistics.median(times)
    reached = e_jax <= e_sk
    report = {
        "benchmark": "nmf",
        "shape": [args.n, args.c], "k": args.k,
        "sklearn_cd": {"seconds": t_sk, "n_iter": int(sk.n_iter_), "rel_error": e_sk,
                       "init": f"{sk_init} (default)", "tol": args.sk_tol,
                       "max_iter": args.sk_max_iter, "random_state": args.seed,
                       "blas_threads": _blas_threads(),
                       "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                       "load_average_before_after": [load_sk0, load_sk1]},
        "jax_hals": {"seconds": t_jax, "seconds_all": times, "sweeps": int(r.n_iter),
                     "rel_error": e_jax, "rel_error_reported": float(r.rel_error),
                     "compile_seconds": t_compile, **opts, "key": args.seed,
                     "history_rel_error": hist.tolist(),
                     "load_average_before_after": [load_jax0, load_jax1]},
        "equal_error_reached": bool(reached),
        "speedup_at_equal_error": t_sk / t_jax,
        "per_iteration_ms": {"sklearn": 1e3 * t_sk / max(int(sk.n_iter_), 1),
                             "jax_sweep": 1e3 * t_jax / max(int(r.n_iter), 1)},
        "load_average": list(os.getloadavg()),
        "machine": machine_info(),
    }
    print(f"sklearn cd: {t_sk:.2f} s ({sk.n_iter_} it, rel {e_sk:.6f}); JAX HALS: {t_jax:.2f} s "
          f"({int(r.n_iter)} sweeps, rel {e_jax:.6f}, inner {inner}, extrapolation "
          f"{extrapolation}, init {args.init}) -> {report['speedup_at_equal_error']:.1f}x"
          f"{'' if reached else '  (sklearn error NOT reached)'}; load {os.getloadavg()}")
    write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
