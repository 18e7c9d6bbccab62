"""Per-phase profile of the batched CGAP / CPHA programs, and the n_init quality/time curve.

The phases are the library's own (:func:`jaxconcepts.concepts.cgap_phases`, ``cpha_phases``):
each runs as its own compiled program over the whole batch, with the same structure as the
method, fed with the previous phases' outputs. The sum of the phases is therefore close to, not
equal to, the fused program's time (XLA fuses across phases in the real one). Wall and process
CPU seconds are both reported: on a loaded machine the CPU time is the steadier figure of the
work done.
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


def _profile(phases, state, *, slow=()):
    """Run ``phases`` on ``state``, each timed (:func:`_timed`; the phases in ``slow`` once):
    their ``{name: (wall s, CPU s)}`` and the final state."""
    from jaxconcepts.concepts import run_phases

    rows = {}

    def timed(ph, args):
        out, *rows[ph.name] = _timed(ph.program, *args, repeats=1 if ph.name in slow else 3)
        return out

    return rows, run_phases(phases, state, call=timed)


def _cgap_phases(A, keys, *, n_concepts, n_sub, n_init, max_iter, tol, n_buckets, block):
    from jaxconcepts.concepts import bucket_sizes, cgap_phases, default_n_buckets

    c = A.shape[1]
    phases = cgap_phases(c, n_concepts=n_concepts, n_sub_concepts=n_sub, n_init=n_init,
                         max_iter=max_iter, tol=tol, n_buckets=n_buckets, block=block)
    rows, state = _profile(phases, {"A": A, "keys": keys}, slow=("sub_concepts",))
    buckets = bucket_sizes(c, default_n_buckets(c, block[0]) if n_buckets is None else n_buckets)
    return rows, {"bucket_sizes": list(buckets),
                  "images_per_bucket": np.bincount(np.asarray(state["which"]),
                                                   minlength=len(buckets)).tolist()}


def _cpha_phases(A, keys, *, n_concepts, n_sub, n_init, max_iter, tol, hw, group):
    from jaxconcepts.concepts import cpha_phases

    phases = cpha_phases(hw, n_concepts=n_concepts, n_sub_concepts=n_sub, n_init=n_init,
                         max_iter=max_iter, tol=tol, group=group)
    return _profile(phases, {"A": A, "keys": keys})[0]


def profile_phases(A, *, n_concepts=5, n_sub=3, n_init=1, max_iter=300, tol=1e-4, seed=0,
                   n_buckets=None, block=(256, 2048), group=16):
    """Per-phase ms/image (wall and CPU) of CGAP and CPHA on A (B, C, H, W), and each method's
    fused program (sub-concepts off, as in the timed comparison, and on) with the wall seconds
    of its first call (compilation included)."""
    import jax
    import jax.numpy as jnp

    from jaxconcepts.concepts import cgap, cpha, image_keys

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
