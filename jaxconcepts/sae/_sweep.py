"""Matched explained variance: compare methods at the same R², not the same k.

A method's recovery depends on how much it reconstructs: more active latents (or a smaller L0
penalty) raise R² and change which atoms are learnt. :func:`match_r2` finds, for one method,
the setting that reaches each target R² (0.7 and 0.9) and scores the fit there:

- an integer knob that raises R² (TopK / BatchTopK / Matryoshka / archetypal ``k``, the number
  of atoms of SemiNMF or k-means): doubling then bisection for the **smallest** ``k`` in
  ``[lo, hi]`` whose R² is ≥ the target (R² assumed non-decreasing in ``k`` up to the answer;
  each ``k`` fitted once, cached);
- a continuous knob that lowers R² (JumpReLU's L0 coefficient λ): bisection in ``log λ`` for
  the **largest** λ whose R² is ≥ the target, ``iters`` halvings of ``[lo, hi]``; the reported
  point is the last fitted λ with R² ≥ target (so the R² can overshoot by the bisection's
  resolution; it is recorded).

A target outside the knob's range is reported as ``"reached": False`` with the R² at the end of
the range, never silently replaced by another setting. Each point reports R², MCC, F1 at
``|cos| ≥ 0.9`` and dead latents (latents that fire on none of the rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import numpy as np

from jaxconcepts.sae._baselines import atoms_of
from jaxconcepts.sae._metrics import atom_recovery, dead_latents, explained_variance, mcc

__all__ = ["bisect_increasing_int", "bisect_log_decreasing", "match_r2", "sae_fitter",
           "score_fit"]


def score_fit(model, A, W_true, y=None) -> dict:
    """``{"r2", "mcc", "f1", "dead"}`` of a fitted model on rows ``A`` against ``W_true``;
    with classes ``y`` ``(n,)``, a class-conditional model's ``transform(A, y)`` and
    ``reconstruct(U, y)`` (each row coded and rebuilt with its class's dictionary or gates)."""
    cls = () if y is None else (y,)
    U = np.asarray(model.transform(A, *cls))
    W = atoms_of(model)
    return {"r2": explained_variance(A, np.asarray(model.reconstruct(U, *cls))),
            "mcc": mcc(W, W_true), "f1": atom_recovery(W, W_true)["f1"],
            "dead": dead_latents(U)}


def bisect_increasing_int(r2_at: Callable[[int], float], target: float, lo: int,
                          hi: int) -> tuple[int | None, dict[int, float]]:
    """Smallest ``k`` in ``[lo, hi]`` with ``r2_at(k) ≥ target``, and every R² evaluated.

    Doubling ``k = lo, 2 lo, 4 lo, …`` (then ``hi``) up to the first ``k`` reaching the target,
    then bisection between it and the previous one: the fits stay near the answer (large ``k``
    is slow, and R² need only be non-decreasing up to the answer). None if no doubling step up
    to ``hi`` reaches the target."""
    if not 1 <= lo <= hi:
        raise ValueError(f"need 1 <= lo={lo} <= hi={hi}")
    seen: dict[int, float] = {}

    def f(k):
        if k not in seen:
            seen[k] = float(r2_at(k))
        return seen[k]

    a, b = None, lo
    while f(b) < target:
        if b == hi:
            return None, seen
        a, b = b, min(2 * b, hi)
    if a is None:
        return b, seen
    while b - a > 1:  # f(a) < target <= f(b)
        mid = (a + b) // 2
        if f(mid) >= target:
            b = mid
        else:
            a = mid
    return b, seen


def bisect_log_decreasing(r2_at: Callable[[float], float], target: float, lo: float,
                          hi: float, iters: int = 6) -> tuple[float | None, dict[float, float]]:
    """Largest λ (to ``iters`` halvings of ``[log lo, log hi]``) with ``r2_at(λ) ≥ target``,
    R² assumed non-increasing in λ; None if even ``r2_at(lo)`` is below."""
    if not 0 < lo < hi:
        raise ValueError(f"need 0 < lo={lo} < hi={hi}")
    seen: dict[float, float] = {}

    def f(x):
        if x not in seen:
            seen[x] = float(r2_at(x))
        return seen[x]

    if f(lo) < target:
        return None, seen
    if f(hi) >= target:
        return hi, seen
    a, b = math.log(lo), math.log(hi)  # f(e^a) >= target > f(e^b)
    for _ in range(iters):
        mid = (a + b) / 2
        if f(math.exp(mid)) >= target:
            a = mid
        else:
            b = mid
    best = max(x for x, r in seen.items() if r >= target)
    return best, seen


def sae_fitter(A, method: str, *, seed: int = 0, **fit_kwargs) -> Callable:
    """``knob -> fitted SAE``: ``k`` for the k-based SAEs, ``sparsity`` λ for JumpReLU."""
    from jaxconcepts.sae._train import fit_sae

    def fit(x):
        kw = {"sparsity": float(x)} if method == "jumprelu" else {"k": int(x)}
        return fit_sae(A, method=method, key=jax.random.key(seed), **{**fit_kwargs, **kw})

    return fit


def match_r2(fit: Callable, A, W_true, *, knob: str, lo, hi,
             targets: Sequence[float] = (0.7, 0.9), iters: int = 6, y=None) -> list[dict]:
    """For each target R², the setting reaching it and the scores there (module docstring).

    Args:
        fit: ``knob value -> fitted model`` (``transform`` / ``reconstruct`` / atoms).
        knob: ``"k"`` (integer, raises R²) or ``"sparsity"`` (continuous, lowers R²).
        lo, hi: the knob's range.
        y: ``(n,)`` classes of ``A`` for a class-conditional model (:func:`score_fit`).

    Returns:
        One dict per target: ``{"target", "knob", "value", "reached", "at_sparsest_end", "r2",
        "mcc", "f1", "dead", "fits"}`` (``value`` None and the scores of the range's end when not
        reached; ``at_sparsest_end``: reached at the range's sparsest end, ``lo`` for ``k``,
        ``hi`` for ``sparsity``, so R² may lie well above the target; ``fits`` the knob values
        evaluated).
    """
    if knob not in ("k", "sparsity"):
        raise ValueError(f"knob={knob!r}; valid choices: ['k', 'sparsity']")
    scores: dict = {}

    def at(x):
        if x not in scores:
            scores[x] = score_fit(fit(x), A, W_true, y)
        return scores[x]["r2"]

    out = []
    for t in targets:
        if knob == "k":
            v, seen = bisect_increasing_int(at, t, int(lo), int(hi))
            end, sparsest = int(hi), int(lo)
        else:
            v, seen = bisect_log_decreasing(at, t, float(lo), float(hi), iters)
            end, sparsest = float(lo), float(hi)
        s = scores[v if v is not None else end]
        out.append({"target": float(t), "knob": knob, "value": v, "reached": v is not None,
                    "at_sparsest_end": v is not None and v == sparsest, **s,
                    "fits": sorted(seen)})
    return out
