"""CGAP's and CPHA's phases, each its own compiled program over the whole batch, for profiling.

:func:`cgap` and :func:`cpha` run one fused program; to see where its time goes, each phase here
runs alone over the batch, with the method's own steps and structure (CGAP: one image at a time,
each in the padded size bucket of its live channels; CPHA: the batch-wide argmax, then the
weighted grids), fed with the previous phases' outputs. The sum of the phases is therefore close
to, not equal to, the fused program's time (XLA fuses across phases in the real one).

A phase is a :class:`Phase`: a name, a jitted ``program`` and the names of its inputs and
outputs in a state dict; :func:`run_phases` runs them in order from ``{"A": (B, C, H*W)
activations, "keys": image_keys(key, index)}``, optionally through a caller's function (a timer).
``benchmarks/clustering.py --profile`` times them.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ..kernels import calinski_harabasz_t, davies_bouldin_t, kmeans_t, silhouette_t
from ._base import _divisor, argmax_live, canonical_labels, live_channels
from ._cgap import (_bucket_floors, _compact_order, _inner_step, _main_concepts, _pca_scores,
                    _sub_concepts, bucket_sizes, default_n_buckets)
from ._cpha import grid_weights
from ._subconcepts import split_concepts

__all__ = ["Phase", "cgap_phases", "cpha_phases", "run_phases"]


class Phase(NamedTuple):
    """One phase: ``outputs = program(*inputs)`` on a state dict's entries (one output name: the
    program's result; several: its tuple)."""

    name: str
    program: Callable
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def run_phases(phases, state: dict, call: Callable | None = None) -> dict:
    """Run ``phases`` in order on ``state`` (a dict of arrays; a copy is returned with every
    phase's outputs added). ``call(phase, args)`` runs each phase when given (e.g. a timer that
    calls ``phase.program(*args)`` and returns its result); by default ``phase.program(*args)``.
    """
    state = dict(state)
    for ph in phases:
        args = [state[k] for k in ph.inputs]
        out = ph.program(*args) if call is None else call(ph, args)
        state.update(zip(ph.outputs, out if len(ph.outputs) > 1 else (out,)))
    return state


class _Buckets(NamedTuple):
    """CGAP's padded sizes for ``c`` channels and what each branch needs."""

    c: int
    sizes: tuple[int, ...]
    below: dict[int, int]  # each size's floor
    fine: tuple[int, int]  # (inner step, rows per product)

    def map(self, fn, which, *arrays):
        """lax.map over images of lax.switch over buckets; fn(s, *image arrays)."""
        return lax.map(lambda a: lax.switch(a[0], [lambda *x, s=s: fn(s, *x)
                                                   for s in self.sizes], *a[1:]),
                       (which, *arrays))

    def pad(self, v, s):  # (..., s) -> (..., C)
        return jnp.pad(v, [(0, 0)] * (v.ndim - 1) + [(0, self.c - s)])


def _gather(s, a, lv, order):
    idx = order[:s]
    return a[idx], lv[idx].astype(a.dtype)


def _cgap_compaction(bk: _Buckets):
    sizes = jnp.asarray(bk.sizes)

    @jax.jit
    def compact(A):
        live = live_channels(A, jnp.ones(A.shape[:2], bool))
        order = jax.vmap(_compact_order)(live)
        n_live = jnp.sum(live, axis=1).astype(jnp.int32)
        return live, order, n_live, jnp.sum(sizes[None, :] < n_live[:, None], axis=1)

    return Phase("live_channels_and_compaction", compact, ("A",),
                 ("live", "order", "n_live", "which"))


def _cgap_pca(bk: _Buckets, d: int):
    @jax.jit
    def pca(which, A, live, order, n_live):
        def f(s, a, lv, o, nl):
            return bk.pad(_pca_scores(*_gather(s, a, lv, o), d, nl, bk.fine[0], bk.below[s]), s)
        return bk.map(f, which, A, live, order, n_live)

    return Phase("pca", pca, ("which", "A", "live", "order", "n_live"), ("pca_scores",))


def _cgap_kmeans(bk: _Buckets, km: dict):
    @jax.jit
    def kmeans(which, pt, live, order, keys):
        def f(s, pt, lv, o, k):
            w = lv[o[:s]].astype(pt.dtype)
            lab, _, inertia = _main_concepts(pt[:, :s], w, jax.random.split(k)[0], km["mi"],
                                             km["tl"], n_concepts=km["n_concepts"],
                                             n_init=km["n_init"])
            return jnp.pad(lab, (0, bk.c - s), constant_values=-1), inertia
        return bk.map(f, which, pt, live, order, keys)

    return Phase("kmeans", kmeans, ("which", "pca_scores", "live", "order", "keys"),
                 ("labels", "inertia"))


def _cgap_sub(bk: _Buckets, km: dict, n_sub: int, step: int):
    @jax.jit
    def sub(which, A, live, order, lab, keys):
        def f(s, a, lv, o, lab, k):
            x, w = _gather(s, a, lv, o)
            sl, _ = _sub_concepts(x, w, lab[:s], jax.random.split(k)[1], km["mi"], km["tl"],
                                  n_concepts=km["n_concepts"], n_sub=n_sub, n_init=km["n_init"],
                                  step=step)
            return jnp.pad(sl, (0, bk.c - s), constant_values=-1)
        return bk.map(f, which, A, live, order, lab, keys)

    return Phase("sub_concepts", sub, ("which", "A", "live", "order", "labels", "keys"),
                 ("sub_labels",))


def _cgap_metric(bk: _Buckets, name: str, fn):
    @jax.jit
    def run(which, pt, live, order, lab):
        def f(s, pt, lv, o, lab):
            return fn(pt[:, :s], lv[o[:s]].astype(pt.dtype), lab[:s], bk.below[s])
        return bk.map(f, which, pt, live, order, lab)

    return Phase(name, run, ("which", "pca_scores", "live", "order", "labels"), (name,))


def cgap_phases(n_channels: int, *, n_concepts: int = 5, n_sub_concepts: int = 3,
                n_init: int = 1, max_iter: int = 300, tol: float = 1e-4,
                n_buckets: int | None = None, block: tuple[int, int] = (256, 2048)
                ) -> tuple[Phase, ...]:
    """:func:`~jaxconcepts.concepts.cgap`'s phases for ``n_channels`` channels and its settings
    (``n_components`` = N - 1): live channels and compaction (outputs ``which``: each image's
    bucket, of :func:`bucket_sizes`), PCA, k-means (``labels``), the sub-concepts (when
    ``n_sub_concepts``) and the three metrics of ``cgap``'s ``_metrics``, one by one."""
    c = int(n_channels)
    sizes = bucket_sizes(c, default_n_buckets(c, block[0]) if n_buckets is None else n_buckets)
    bk = _Buckets(c, sizes, dict(zip(sizes, _bucket_floors(sizes))),
                  (_inner_step(block[0]), block[1]))
    km = dict(mi=jnp.int32(max_iter), tl=jnp.float32(tol), n_concepts=n_concepts, n_init=n_init)
    phases = [_cgap_compaction(bk), _cgap_pca(bk, n_concepts - 1), _cgap_kmeans(bk, km)]
    if n_sub_concepts:
        phases.append(_cgap_sub(bk, km, n_sub_concepts, block[0]))
    k, fine = n_concepts, bk.fine
    phases += [
        _cgap_metric(bk, "silhouette",
                     lambda p, w, l, fl: silhouette_t(p, w, l, k, block=fine, floor=fl)),
        _cgap_metric(bk, "calinski_harabasz", lambda p, w, l, fl: calinski_harabasz_t(p, w, l, k)),
        _cgap_metric(bk, "davies_bouldin", lambda p, w, l, fl: davies_bouldin_t(p, w, l, k)),
    ]
    return tuple(phases)


def cpha_phases(hw: tuple[int, int], *, n_concepts: int = 5, n_sub_concepts: int = 3,
                n_init: int = 1, max_iter: int = 300, tol: float = 1e-4, group: int = 16
                ) -> tuple[Phase, ...]:
    """:func:`~jaxconcepts.concepts.cpha`'s phases for an ``hw = (H, W)`` map and its settings:
    the batch-wide argmax and weighted grids (output ``grid_weights``), k-means (``labels``, on
    the grid), the sub-concepts (when ``n_sub_concepts``) and the three metrics, one by one."""
    h, wd = hw
    pos = jnp.arange(h * wd)
    grid = jnp.stack([pos // wd, pos % wd]).astype(jnp.float32)
    km = dict(n_init=n_init, max_iter=jnp.int32(max_iter), tol=jnp.float32(tol))
    n_sub = n_sub_concepts

    @jax.jit
    def argmax(A):
        idx, live = argmax_live(A, jnp.ones(A.shape[:2], bool))
        return grid_weights(idx, live, h * wd)

    @jax.jit
    def kmeans(gw, keys):
        def f(a):
            r = kmeans_t(grid, a[0], jax.random.split(a[1])[0], n_clusters=n_concepts, **km)
            return canonical_labels(r.labels, a[0], n_concepts)[0]
        return lax.map(f, (gw, keys), batch_size=_divisor(gw.shape[0], group))

    @jax.jit
    def sub(gw, glab, keys):
        return lax.map(lambda a: split_concepts(
            lambda wl, k: kmeans_t(grid, wl, k, n_clusters=n_sub, **km).labels,
            a[1], a[0], jax.random.split(a[2])[1], n_concepts=n_concepts,
            n_sub_concepts=n_sub), (gw, glab, keys), batch_size=_divisor(gw.shape[0], group))

    def metric(name, fn):
        return Phase(name, jax.jit(lambda gw, glab: lax.map(
            lambda a: fn(a[0], a[1]), (gw, glab), batch_size=_divisor(gw.shape[0], group))),
            ("grid_weights", "labels"), (name,))

    phases = [Phase("argmax_and_grid", argmax, ("A",), ("grid_weights",)),
              Phase("kmeans", kmeans, ("grid_weights", "keys"), ("labels",))]
    if n_sub:
        phases.append(Phase("sub_concepts", sub, ("grid_weights", "labels", "keys"),
                            ("sub_labels",)))
    phases += [
        metric("silhouette", lambda w, l: silhouette_t(grid, w, l, n_concepts, block=h * wd)),
        metric("calinski_harabasz", lambda w, l: calinski_harabasz_t(grid, w, l, n_concepts)),
        metric("davies_bouldin", lambda w, l: davies_bouldin_t(grid, w, l, n_concepts)),
    ]
    return tuple(phases)
