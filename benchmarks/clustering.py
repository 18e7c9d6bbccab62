"""Benchmark ``clustering``: the papers' way (a Python loop over images calling scikit-learn) vs
the batched JAX path, on the same activations, in one run.

Per image, both sides do CGAP (mask, PCA to N-1, k-means N) and CPHA (argmax coordinates,
k-means N), each with silhouette, Calinski-Harabasz and Davies-Bouldin. scikit-learn runs with
one thread (``threadpoolctl``; its best case on small problems, see MEASUREMENTS.md) and,
optionally, its default threads on a subset. Sub-concepts are off on both sides.

Writes ``reports/benchmarks/clustering.json``: images/s of each side and their ratio from this
run, compile time (first call) apart from steady state, a check that a second batch of the same
shape does not recompile, peak RSS of each side (and for two JAX batch sizes), quality parity
(inertia ratio and ARI against scikit-learn, next to scikit-learn's own seed-to-seed figures;
mean metrics of both sides), and machine info.

    python -m benchmarks clustering [--n-images 256] [--batch-size 128] [--store PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks._common import PeakMemory, Timer, machine_info, synthetic_activations

DEFAULT_OUT = Path("reports/benchmarks/clustering.json")


def load_activations(args) -> tuple[np.ndarray, np.ndarray, str]:
    if args.store:
        from jaxconcepts.features import ActivationStore

        store = ActivationStore(args.store)
        parts, idx, n = [], [], 0
        for b in store.iter_batches(256, fields=("activations", "index"), as_jax=False):
            parts.append(b["activations"])
            idx.append(b["index"])
            n += len(b["index"])
            if n >= args.n_images:
                break
        A = np.concatenate(parts)[: args.n_images]
        return A, np.concatenate(idx)[: args.n_images].astype(np.int32), f"store:{args.store}"
    A = synthetic_activations(args.n_images, seed=args.seed)
    return A, np.arange(len(A), dtype=np.int32), "synthetic 2048x8x8 ReLU"


def sklearn_loop(A, *, n_concepts, n_init, seed_base, with_metrics=True):
    """The papers' way, image by image. Returns per-part seconds and per-image results."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import (
        calinski_harabasz_score,
        davies_bouldin_score,
        silhouette_score,
    )

    def metrics(x, lab):
        if len(np.unique(lab)) < 2 or len(np.unique(lab)) >= len(lab):
            return [0.0, 0.0, 0.0]
        return [silhouette_score(x, lab), calinski_harabasz_score(x, lab),
                davies_bouldin_score(x, lab)]

    t = {"cgap": 0.0, "cpha": 0.0}
    out = {"cgap": [], "cpha": []}
    _, _, h, w = A.shape
    for i, a in enumerate(A):
        t0 = time.perf_counter()
        x = a.reshape(a.shape[0], -1)
        live = (x != 0).any(1)
        xl = x[live]
        pts = PCA(n_concepts - 1).fit_transform(xl)
        km = KMeans(n_concepts, n_init=n_init, random_state=seed_base + i).fit(pts)
        m = metrics(pts, km.labels_) if with_metrics else None
        t1 = time.perf_counter()
        idx = x.argmax(1)[live]
        coords = np.stack([idx // w, idx % w], 1).astype(np.float64)
        km2 = KMeans(n_concepts, n_init=n_init, random_state=seed_base + i).fit(coords)
        m2 = metrics(coords, km2.labels_) if with_metrics else None
        t2 = time.perf_counter()
        t["cgap"] += t1 - t0
        t["cpha"] += t2 - t1
        out["cgap"].append((live, pts, km.labels_, km.inertia_, m))
        out["cpha"].append((live, coords, km2.labels_, km2.inertia_, m2))
    return t, out


def run_jax(A, index, *, batch_size, n_concepts, n_init, seed, group, between=None):
    """Batched JAX path over all images; returns results and timings.

    ``between(lo, hi)``, when given, runs before each batch (outside the JAX timers): the
    reference loop on the same images, so both sides see the same machine load over time.
    """
    import jax
    import jax.numpy as jnp

    from jaxconcepts.concepts import cgap, cgap_batch, cpha, cpha_batch

    key = jax.random.key(seed)
    kw = dict(n_concepts=n_concepts, n_sub_concepts=0, n_init=n_init)
    n = len(A)
    nb = -(-n // batch_size)
    pad = nb * batch_size - n
    mask = np.ones((nb * batch_size, A.shape[1]), bool)
    if pad:
        mask[n:] = False
        A = np.concatenate([A, np.zeros((pad,) + A.shape[1:], A.dtype)])
        index = np.concatenate([index, -np.ones(pad, np.int32)])
    batches = [(jnp.asarray(A[i * batch_size:(i + 1) * batch_size]),
                jnp.asarray(mask[i * batch_size:(i + 1) * batch_size]),
                jnp.asarray(index[i * batch_size:(i + 1) * batch_size])) for i in range(nb)]
    jax.block_until_ready(batches)

    def call(f, b, **extra):
        return jax.block_until_ready(f(b[0], b[1], key=key, index=b[2], **kw, **extra))

    compile_s = {}
    for name, f, extra in (("cpha", cpha, {"group": 16}), ("cgap", cgap, {"group": group})):
        with Timer() as tm:
            call(f, batches[0], **extra)
        compile_s[name] = tm.seconds
    sizes = (cgap_batch._cache_size(), cpha_batch._cache_size())
    res = {"cgap": [], "cpha": []}
    secs = {"cgap": 0.0, "cpha": 0.0}
    with PeakMemory() as pm:
        for i, b in enumerate(batches):
            if between is not None:
                between(i * batch_size, min((i + 1) * batch_size, n))
            for name, f, extra in (("cpha", cpha, {"group": 16}),
                                   ("cgap", cgap, {"group": group})):
                with Timer() as tm:
                    r = call(f, b, **extra)
                secs[name] += tm.seconds
                res[name].append(jax.device_get(r))
    retraced = (cgap_batch._cache_size(), cpha_batch._cache_size()) != sizes
    cat = {m: {f: np.concatenate([np.asarray(getattr(r, f)) for r in rs])[:n]
               for f in ("labels", "inertia", "metrics", "n_concepts")} for m, rs in res.items()}
    return cat, secs, compile_s, pm, retraced


def parity(sk, sk_b, ours, method):
    """Inertia ratio and ARI of ours vs scikit-learn, next to scikit-learn seed A vs seed B."""
    from sklearn.metrics import adjusted_rand_score

    ratio_o, ratio_s, ari_o, ari_s = [], [], [], []
    for i, ((live, _, lab_a, in_a, _), (_, _, lab_b, in_b, _)) in enumerate(
        zip(sk[method], sk_b[method])
    ):
        if in_a <= 0 or live.sum() < 2:
            continue
        ours_lab = ours[method]["labels"][i][live]
        ratio_o.append(float(ours[method]["inertia"][i]) / in_a)
        ratio_s.append(in_b / in_a)
        ari_o.append(adjusted_rand_score(lab_a, ours_lab))
        ari_s.append(adjusted_rand_score(lab_a, lab_b))

    def q(v):
        v = np.asarray(v)
        return {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}

    return {
        "n_images": len(ratio_o),
        "inertia_ratio_ours_over_sklearn": q(ratio_o),
        "inertia_ratio_sklearn_seed_b_over_seed_a": q(ratio_s),
        "ari_ours_vs_sklearn": q(ari_o),
        "ari_sklearn_seed_b_vs_seed_a": q(ari_s),
        "inertia_ratio_mean_within_1pct": abs(np.mean(ratio_o) - 1.0) <= 0.01,
        "inertia_ratio_mean_within_1pct_of_sklearn_seed_to_seed":
            abs(np.mean(ratio_o) - np.mean(ratio_s)) <= 0.01,
        "ari_at_least_sklearn_seed_to_seed": float(np.mean(ari_o)) >= float(np.mean(ari_s)),
    }


def mean_metrics(rows):
    m = np.array([r[4] for r in rows], float)
    return dict(zip(("silhouette", "calinski_harabasz", "davies_bouldin"), m.mean(0).tolist()))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks clustering", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-images", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--memory-batch-sizes", type=int, nargs="*", default=[32],
                   help="extra JAX batch sizes for the peak-memory sweep (each compiles again)")
    p.add_argument("--group", type=int, default=4, help="CGAP images per vmap group")
    p.add_argument("--n-concepts", type=int, default=5)
    p.add_argument("--n-init", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store", default=None, help="activation store (default: synthetic)")
    p.add_argument("--sklearn-default-threads", type=int, default=32,
                   help="also time scikit-learn with its default threads on this many images")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    if args.n_images < 1 or args.batch_size < 1:
        p.error("--n-images and --batch-size should be >= 1")

    from threadpoolctl import threadpool_limits

    from jaxconcepts._io import write_json

    A, index, source = load_activations(args)
    n = len(A)
    print(f"clustering benchmark: {n} images {A.shape[1:]} from {source}", flush=True)

    live_frac = float((A != 0).any((2, 3)).mean())
    with threadpool_limits(limits=1):  # warm-up: first-call imports and allocations
        sklearn_loop(A[:2], n_concepts=args.n_concepts, n_init=args.n_init, seed_base=0)
    # Peak memory of the reference loop, alone.
    with threadpool_limits(limits=1), PeakMemory() as pm_sk:
        sklearn_loop(A[: min(n, 32)], n_concepts=args.n_concepts, n_init=args.n_init,
                     seed_base=args.seed)
    # Timing: the reference loop and the JAX path alternate batch by batch on the same images
    # (the machine is shared; its load drifts, and alternating keeps the ratio fair).
    sk_t = {"cgap": 0.0, "cpha": 0.0}
    sk = {"cgap": [], "cpha": []}

    def between(lo, hi):
        with threadpool_limits(limits=1):
            t, out = sklearn_loop(A[lo:hi], n_concepts=args.n_concepts, n_init=args.n_init,
                                  seed_base=args.seed + lo)
        for m in sk_t:
            sk_t[m] += t[m]
            sk[m] += out[m]

    ours, secs, compile_s, _, retraced = run_jax(
        A, index, batch_size=args.batch_size, n_concepts=args.n_concepts, n_init=args.n_init,
        seed=args.seed, group=args.group, between=between)
    print(f"scikit-learn 1 thread: {sk_t} s; jax: {secs} s steady, compile {compile_s}",
          flush=True)
    with threadpool_limits(limits=1):
        _, sk_b = sklearn_loop(A, n_concepts=args.n_concepts, n_init=args.n_init,
                               seed_base=args.seed + 10_000, with_metrics=False)
    default_threads = None
    if args.sklearn_default_threads > 0:
        m = min(n, args.sklearn_default_threads)
        with Timer() as t_def:
            d_t, _ = sklearn_loop(A[:m], n_concepts=args.n_concepts, n_init=args.n_init,
                                  seed_base=args.seed)
        default_threads = {"n_images": m, "ms_per_image": 1000 * t_def.seconds / m,
                           "ms_per_image_cgap": 1000 * d_t["cgap"] / m,
                           "ms_per_image_cpha": 1000 * d_t["cpha"] / m}

    # Peak memory of the JAX path alone, for growing batch sizes (2 batches each).
    mem_sweep = {}
    for bs in sorted(set(args.memory_batch_sizes) | {args.batch_size}):
        *_, pm_b, _ = run_jax(A[: 2 * bs], index[: 2 * bs], batch_size=bs,
                              n_concepts=args.n_concepts, n_init=args.n_init, seed=args.seed,
                              group=args.group)
        mem_sweep[bs] = (pm_b.bytes, pm_b.delta)
    pm_jax_bytes, pm_jax_delta = mem_sweep[args.batch_size]

    sk_total = sk_t["cgap"] + sk_t["cpha"]
    jx_total = secs["cgap"] + secs["cpha"]
    result = {
        "source": source,
        "n_images": n,
        "shape": list(A.shape[1:]),
        "live_channel_fraction": live_frac,
        "params": {k: v for k, v in vars(args).items() if k != "out"},
        "sklearn_1thread": {
            "images_per_s": n / sk_total,
            "ms_per_image": 1000 * sk_total / n,
            "ms_per_image_cgap": 1000 * sk_t["cgap"] / n,
            "ms_per_image_cpha": 1000 * sk_t["cpha"] / n,
            "peak_rss_bytes": pm_sk.bytes,
            "peak_rss_delta_bytes": pm_sk.delta,
            "timing": "alternating with the JAX path batch by batch, same images",
        },
        "sklearn_default_threads": default_threads,
        "jax": {
            "images_per_s": n / jx_total,
            "ms_per_image": 1000 * jx_total / n,
            "ms_per_image_cgap": 1000 * secs["cgap"] / n,
            "ms_per_image_cpha": 1000 * secs["cpha"] / n,
            "batch_size": args.batch_size,
            "compile_seconds_first_call": compile_s,
            "recompiled_on_later_batches": retraced,
            "peak_rss_bytes": pm_jax_bytes,
            "peak_rss_delta_bytes": pm_jax_delta,
            "peak_rss_delta_bytes_by_batch_size": {str(k): v[1] for k, v in mem_sweep.items()},
            "peak_rss_method": pm_sk.method,
        },
        "speedup_vs_sklearn_1thread": {
            "cgap_plus_cpha_with_metrics": sk_total / jx_total,
            "cgap": sk_t["cgap"] / secs["cgap"],
            "cpha": sk_t["cpha"] / secs["cpha"],
        },
        "targets": {"cgap_plus_cpha_ge_10x": sk_total / jx_total >= 10,
                    "cpha_ge_30x": sk_t["cpha"] / secs["cpha"] >= 30},
        "quality": {
            m: {
                **parity(sk, sk_b, ours, m),
                "mean_metrics_sklearn": mean_metrics(sk[m]),
                "mean_metrics_ours": dict(zip(
                    ("silhouette", "calinski_harabasz", "davies_bouldin"),
                    ours[m]["metrics"].mean(0).tolist())),
            }
            for m in ("cgap", "cpha")
        },
        "machine": machine_info(),
    }
    write_json(args.out, result)
    s = result["speedup_vs_sklearn_1thread"]
    print(f"sklearn 1 thread {result['sklearn_1thread']['ms_per_image']:.2f} ms/img, "
          f"jax {result['jax']['ms_per_image']:.2f} ms/img: x{s['cgap_plus_cpha_with_metrics']:.1f}"
          f" (CGAP x{s['cgap']:.1f}, CPHA x{s['cpha']:.1f}) -> {args.out}")


if __name__ == "__main__":
    main()
