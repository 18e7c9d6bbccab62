"""Work on the present points only: run a function on the smallest prefix that holds them.

Points are compacted (present ones first) and ``count`` of them are present; the rest weigh 0.
:func:`prefix_switch` runs ``fn(m, *args)`` with m the smallest of :func:`prefix_sizes` (steps
of ``step``, or doubling from it) that holds ``count``, through ``lax.switch``: one branch per
size, compiled once, so one program serves every count and the padding costs next to nothing.
Under ``vmap`` every branch would run; call it per example (``lax.map``). Used by the
silhouette, the PCA covariance and CGAP's per-concept sub-concept windows.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import jax.numpy as jnp
from jax import lax

__all__ = ["prefix_sizes", "prefix_switch"]


def prefix_sizes(n: int, step: int, *, doubling: bool = False, floor: int = 0) -> tuple[int, ...]:
    """The sizes a prefix of n points is cut at: step, 2 step, 3 step, ..., then n; or, with
    ``doubling``, step, 2 step, 4 step, ..., then n (fewer branches to compile, for costly
    ``fn``). Sizes up to ``floor`` are left out when the count is known to exceed it (a caller's
    own size bucket): they would never run."""
    if doubling:
        sizes, m = [], step
        while m < n:
            sizes.append(m)
            m *= 2
    else:
        sizes = list(range(step, n, step))
    return tuple(m for m in sizes if m > floor) + (n,)


def prefix_switch(count, sizes: tuple[int, ...], fn: Callable, *args):
    """``fn(m, *args)`` for the smallest m of ``sizes`` (ascending, from :func:`prefix_sizes`)
    with m >= count.

    ``count`` may be traced; ``fn`` must return the same shapes for every m (pad to the last)."""
    if len(sizes) == 1:
        return fn(sizes[0], *args)
    which = jnp.sum(jnp.asarray(sizes, jnp.int32) < count)
    return lax.switch(which, [partial(fn, m) for m in sizes], *args)
