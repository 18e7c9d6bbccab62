"""95 % intervals and verdicts for the papers' claims: a percentile bootstrap over images.

A headline number is a mean over images; its interval resamples the images with replacement
(``n_boot`` times, seeded). A comparison of two sources on the same images is **paired**: the
per-image difference is resampled, so the interval is that of the mean difference. A claim
"source beats baseline" *holds* only when the paired interval lies above 0, *fails* when it lies
below, and is a *tie* otherwise (:func:`verdict`). Undefined per-image values (NaN) are dropped
before resampling (pairwise for paired intervals).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_mean", "paired_difference", "verdict"]

LEVEL = 0.95


def _ci(values: np.ndarray, n_boot: int, seed: int, level: float) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = values.size
    means = np.empty(n_boot)
    for s in range(0, n_boot, 256):  # chunks bound memory for large n
        m = min(256, n_boot - s)
        means[s:s + m] = values[rng.integers(0, n, size=(m, n))].mean(1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [a, 1.0 - a])
    return float(lo), float(hi)


def bootstrap_mean(values, *, n_boot: int = 2000, seed: int = 0, level: float = LEVEL) -> dict:
    """Mean of ``values`` (N,) over its finite entries, with a percentile-bootstrap interval.

    Returns ``{"mean", "lo", "hi", "n"}``; all None (``n`` 0) when nothing is finite.

    Raises:
      ValueError: ``values`` is not 1-D, or ``level`` not in (0, 1), or ``n_boot`` < 1.
    """
    v = np.asarray(values, np.float64)
    if v.ndim != 1:
        raise ValueError(f"values should have shape (N,), got {v.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level} should be in (0, 1)")
    if n_boot < 1:
        raise ValueError(f"n_boot={n_boot} should be >= 1")
    v = v[np.isfinite(v)]
    if not v.size:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    lo, hi = _ci(v, n_boot, seed, level)
    return {"mean": float(v.mean()), "lo": lo, "hi": hi, "n": int(v.size)}


def paired_difference(a, b, *, n_boot: int = 2000, seed: int = 0, level: float = LEVEL) -> dict:
    """Mean of ``a - b`` over the images where both are finite, with its bootstrap interval and
    :func:`verdict` (``"holds"`` when the interval is above 0).

    Raises:
      ValueError: ``a`` and ``b`` differ in shape or are not 1-D.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b should be (N,) arrays of one shape, got {a.shape} and {b.shape}")
    out = bootstrap_mean(a - b, n_boot=n_boot, seed=seed, level=level)
    out["verdict"] = verdict(out["lo"], out["hi"])
    return out


def verdict(lo: float | None, hi: float | None) -> str:
    """``holds`` (interval above 0), ``fails`` (below 0), ``tie`` (contains 0), ``undefined``."""
    if lo is None or hi is None:
        return "undefined"
    if lo > 0:
        return "holds"
    if hi < 0:
        return "fails"
    return "tie"
