"""Per-phase profile of the batched CGAP / CPHA programs, and the n_init quality/time curve.

Each phase runs as its own compiled program over the whole batch, with the same structure as the
method (CGAP: one image at a time, each in the padded size bucket of its live channels; CPHA: the
batch-wide argmax, then the weighted grids), fed with the previous phases' outputs. The sum of
the phases is therefore close to, not equal to, the fused program's time (XLA fuses across
phases in the real one). Wall and process CPU seconds are both reported: on a loaded machine
the CPU time is the steadier figure of the work done.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["profile_phases", "n_init_curve"]


def _timed(f, *args, repeats=3, first=None):
    """(output, best wall s, best CPU s) of f(*args) after a first call (compilation), whose
    wall seconds are stored under first["s"] when ``first`` is a dict."""
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(f(*args))  # compile
    if first is not None:
        first["s"] = time.perf_counter() - t0
    wall, cpu = [], []
    out = None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = jax.block_until_ready(f(*args))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return out, min(wall), min(cpu)


def _cgap_phases(A, keys, *, n_concepts, n_sub, n_init, max_iter, tol, n_buckets, block):
    import jax
    import jax.numpy as jnp
    from jax import lax

    from jaxconcepts.concepts._base import live_channels
    from jaxconcepts.concepts._cgap import (
        _bucket_floors,
        _compact_order,
        _inner_step,
        _main_concepts,
        _pca_scores,
        _sub_concepts,
        bucket_sizes,
        default_n_buckets,
    )
    from jaxconcepts.kernels import calinski_harabasz_t, davies_bouldin_t, silhouette_t

    b, c, _ = A.shape
    buckets = bucket_sizes(c, default_n_buckets(c, block[0]) if n_buckets is None else n_buckets)
    below = dict(zip(buckets, _bucket_floors(buckets)))
    fine = (_inner_step(block[0]), block[1])
    sizes = jnp.asarray(buckets)
    mi, tl = jnp.int32(max_iter), jnp.float32(tol)
    d = n_concepts - 1

    def bucketed(fn, which, *arrays):
        """lax.map over images of lax.switch over buckets; fn(s, *image arrays)."""
        return lax.map(lambda a: lax.switch(a[0], [lambda *x, s=s: fn(s, *x) for s in buckets],
                                            *a[1:]), (which, *arrays))

    @jax.jit
    def compact(A):
        live = live_channels(A, jnp.ones(A.shape[:2], bool))
        order = jax.vmap(_compact_order)(live)
        n_live = jnp.sum(live, axis=1).astype(jnp.int32)
        return live, order, n_live, jnp.sum(sizes[None, :] < n_live[:, None], axis=1)

    def gather(s, a, lv, order):
        idx = order[:s]
        return a[idx], lv[idx].astype(a.dtype)

    def pad(v, s):  # (..., s) -> (..., C)
        return jnp.pad(v, [(0, 0)] * (v.ndim - 1) + [(0, c - s)])

    @jax.jit
    def pca(which, A, live, order, n_live):
        def f(s, a, lv, o, nl):
            return pad(_pca_scores(*gather(s, a, lv, o), d, nl, fine[0], below[s]), s)
        return bucketed(f, which, A, live, order, n_live)

    @jax.jit
    def kmeans(which, pt, live, order, keys):
        def f(s, pt, lv, o, k):
            w = lv[o[:s]].astype(pt.dtype)
            lab, _, inertia = _main_concepts(pt[:, :s], w, jax.random.split(k)[0], mi, tl,
                                             n_concepts=n_concepts, n_init=n_init)
            return jnp.pad(lab, (0, c - s), constant_values=-1), inertia
        return bucketed(f, which, pt, live, order, keys)

    @jax.jit
    def sub(which, A, live, order, lab, keys):
        def f(s, a, lv, o, lab, k):
            x, w = gather(s, a, lv, o)
            sl, _ = _sub_concepts(x, w, lab[:s], jax.random.split(k)[1], mi, tl,
                                  n_concepts=n_concepts, n_sub=n_sub, n_init=n_init,
                                  step=block[0])
            return jnp.pad(sl, (0, c - s), constant_values=-1)
        return bucketed(f, which, A, live, order, lab, keys)

    def metric(fn):
        @jax.jit
        def run(which, pt, live, order, lab):
            def f(s, pt, lv, o, lab):
                return fn(pt[:, :s], lv[o[:s]].astype(pt.dtype), lab[:s], below[s])
            return bucketed(f, which, pt, live, order, lab)
        return run

    rows = {}
    (live, order, n_live, which), *t = _timed(compact, A)
    rows["live_channels_and_compaction"] = t
    pt, *rows["pca"] = _timed(pca, which, A, live, order, n_live)
    (lab, _), *rows["kmeans"] = _timed(kmeans, which, pt, live, order, keys)
    if n_sub:
        _, *rows["sub_concepts"] = _timed(sub, which, A, live, order, lab, keys, repeats=1)
    # the three calls of _cgap._metrics, timed one by one
    for name, fn in (
        ("silhouette", lambda p, w, l, fl: silhouette_t(p, w, l, n_concepts, block=fine,
                                                          floor=fl)),
        ("calinski_harabasz", lambda p, w, l, fl: calinski_harabasz_t(p, w, l, n_concepts)),
        ("davies_bouldin", lambda p, w, l, fl: davies_bouldin_t(p, w, l, n_concepts)),
    ):
        _, *rows[name] = _timed(metric(fn), which, pt, live, order, lab)
    return rows, {"bucket_sizes": list(buckets),
                  "images_per_bucket": np.bincount(np.asarray(which), minlength=len(buckets))
                  .tolist()}


def _cpha_phases(A, keys, *, n_concepts, n_sub, n_init, max_iter, tol, hw, group):
    import jax
    import jax.numpy as jnp
    from jax import lax

    from jaxconcepts.concepts._base import _divisor, argmax_live, canonical_labels
    from jaxconcepts.concepts._cpha import grid_weights
    from jaxconcepts.concepts._subconcepts import split_concepts
    from jaxconcepts.kernels import (
        calinski_harabasz_t,
        davies_bouldin_t,
        kmeans_t,
        silhouette_t,
    )

    h, wd = hw
    pos = jnp.arange(h * wd)
    grid = jnp.stack([pos // wd, pos % wd]).astype(jnp.float32)
    bs = _divisor(A.shape[0], group)
    km = dict(n_init=n_init, max_iter=jnp.int32(max_iter), tol=jnp.float32(tol))

    @jax.jit
    def argmax(A):
        idx, live = argmax_live(A, jnp.ones(A.shape[:2], bool))
        return grid_weights(idx, live, h * wd)

    @jax.jit
    def kmeans(gw, keys):
        def f(a):
            r = kmeans_t(grid, a[0], jax.random.split(a[1])[0], n_clusters=n_concepts, **km)
            return canonical_labels(r.labels, a[0], n_concepts)[0]
        return lax.map(f, (gw, keys), batch_size=bs)

    @jax.jit
    def sub(gw, glab, keys):
        return lax.map(lambda a: split_concepts(
            lambda wl, k: kmeans_t(grid, wl, k, n_clusters=n_sub, **km).labels,
            a[1], a[0], jax.random.split(a[2])[1], n_concepts=n_concepts,
            n_sub_concepts=n_sub), (gw, glab, keys), batch_size=bs)

    def metric(fn):
        return jax.jit(lambda gw, glab: lax.map(lambda a: fn(a[0], a[1]), (gw, glab),
                                                batch_size=bs))

    rows = {}
    gw, *rows["argmax_and_grid"] = _timed(argmax, A)
    glab, *rows["kmeans"] = _timed(kmeans, gw, keys)
    if n_sub:
        _, *rows["sub_concepts"] = _timed(sub, gw, glab, keys)
    for name, fn in (
        ("silhouette", lambda w, l: silhouette_t(grid, w, l, n_concepts, block=h * wd)),
        ("calinski_harabasz", lambda w, l: calinski_harabasz_t(grid, w, l, n_concepts)),
        ("davies_bouldin", lambda w, l: davies_bouldin_t(grid, w, l, n_concepts)),
    ):
        _, *rows[name] = _timed(metric(fn), gw, glab)
    return rows


def profile_phases(A, *, n_concepts=5, n_sub=3, n_init=1, max_iter=300, tol=1e-4, seed=0,
                   n_buckets=None, block=(256, 2048), group=16):
    """Per-phase ms/image (wall and CPU) of CGAP and CPHA on A (B, C, H, W), and each method's
    fused program (sub-concepts off, as in the timed comparison, and on) with the wall seconds
    of its first call (compilation included)."""
    import jax
    import jax.numpy as jnp

    from jaxconcepts.concepts import cgap, cpha
    from jaxconcepts.concepts._base import image_keys

    b, c, h, wd = A.shape
    Aj = jnp.asarray(A.reshape(b, c, h * wd))
    keys = image_keys(jax.random.key(seed), jnp.arange(b, dtype=jnp.int32))
    kw = dict(n_concepts=n_concepts, n_sub=n_sub, n_init=n_init, max_iter=max_iter, tol=tol)
    cg, extra = _cgap_phases(Aj, keys, n_buckets=n_buckets, block=block, **kw)
    cp = _cpha_phases(Aj, keys, hw=(h, wd), group=group, **kw)
    A4 = jnp.asarray(A)
    common = dict(key=jax.random.key(seed), n_concepts=n_concepts, n_init=n_init,
                  max_iter=max_iter, tol=tol)
    first_call = {"cgap": {}, "cpha": {}}
    for name, rows, f, fkw in (("cgap", cg, cgap, dict(n_buckets=n_buckets, block=block)),
                               ("cpha", cp, cpha, dict(group=group))):
        for s in sorted({0, n_sub}):
            first = {}
            _, *rows[f"fused_program_sub_concepts_{s}"] = _timed(
                lambda a, s=s, f=f, fkw=fkw: f(a, n_sub_concepts=s, **common, **fkw), A4,
                first=first)
            first_call[name][f"fused_program_sub_concepts_{s}"] = first["s"]

    def ms(rows):
        return {k: {"wall_ms_per_image": 1000 * v[0] / b, "cpu_ms_per_image": 1000 * v[1] / b}
                for k, v in rows.items()}

    return {"n_images": b, "cgap": ms(cg), "cpha": ms(cp), "cgap_buckets": extra,
            "first_call_seconds_compile_included": first_call}


def n_init_curve(A, *, n_inits=(1, 3, 10), n_concepts=5, seed=0, repeats=2, **method_kw):
    """Mean inertia and ms/image of each method for each n_init (sub-concepts off).

    Also the geometric-mean inertia relative to the largest n_init, and its worst image.
    """
    import jax
    import jax.numpy as jnp

    from jaxconcepts.concepts import cgap, cpha

    A4 = jnp.asarray(A)
    out = {}
    for name, f in (("cgap", cgap), ("cpha", cpha)):
        rows = {}
        for n_init in n_inits:
            r, wall, cpu = _timed(lambda a, n=n_init, f=f, kw=method_kw.get(name, {}):
                                  f(a, key=jax.random.key(seed), n_concepts=n_concepts,
                                    n_sub_concepts=0, n_init=n, **kw),
                                  A4, repeats=repeats)
            rows[n_init] = (np.asarray(r.inertia, np.float64), wall, cpu)
        ref = rows[max(n_inits)][0]
        ok = ref > 0
        out[name] = {
            str(n): {
                "mean_inertia": float(v[0].mean()),
                "geomean_inertia_over_n_init_max": float(np.exp(np.mean(np.log(v[0][ok] /
                                                                                ref[ok])))),
                "worst_image_inertia_over_n_init_max": float(np.max(v[0][ok] / ref[ok])),
                "wall_ms_per_image": 1000 * v[1] / len(A),
                "cpu_ms_per_image": 1000 * v[2] / len(A),
            }
            for n, v in rows.items()
        }
    return out
