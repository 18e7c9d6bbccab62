"""Sanity baselines: does a method beat its random counterpart?

- :func:`fit_random_sae`: the random frozen-decoder SAE — the same fit as :func:`fit_sae` with
  the random unit decoder of the initialisation kept; only the encoder and the biases learn.
  Its atoms are random directions, so its recovery (MCC) is chance; its R² says how much a
  trained encoder alone can reconstruct with them.
- :func:`random_directions`: random dictionaries for the non-SAE methods — ``"gaussian"``
  (unit Gaussian rows: the counterpart of signed dictionaries, SemiNMF, k-means directions),
  ``"orthonormal"`` (orthonormal rows, ``k ≤ c``: PCA's) and ``"nonnegative"`` (unit rows of
  ``|N(0, 1)|``: NMF's, whose atoms are non-negative).
- :func:`paired_interval`: the 95 % interval of the mean paired difference ``method − random``
  over seeds, Student-t (``mean ± t_{n−1} · sd / √n``) or a percentile bootstrap of the mean.
- :func:`compare_to_random`: fit a method and its random counterpart on each seed (the same
  seed for both: paired), score both (default MCC against the true atoms) and return the
  interval and whether it excludes 0 — the scoreboard's "beats random" entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np
from scipy import stats

from jaxconcepts.sae._metrics import mcc

__all__ = ["atoms_of", "compare_to_random", "fit_random_sae", "paired_interval",
           "random_directions", "sae_vs_random"]

KINDS = ("gaussian", "orthonormal", "nonnegative")


def atoms_of(result) -> np.ndarray:
    """The ``(k, c)`` dictionary of a fit: an array, or a model's ``W_dec`` / ``W`` /
    ``concepts[0]``."""
    for name in ("W_dec", "W"):
        if hasattr(result, name):
            return np.asarray(getattr(result, name), np.float64)
    if hasattr(result, "concepts"):
        return np.asarray(result.concepts[0], np.float64)
    return np.asarray(result, np.float64)


def random_directions(k: int, c: int, *, seed: int, kind: str = "gaussian",
                      blocks: int = 1) -> np.ndarray:
    """``(blocks · k, c)`` unit rows drawn by ``seed`` (module docstring for ``kind``):
    ``blocks`` independent ``(k, c)`` dictionaries stacked, the counterpart of per-class
    dictionaries pooled (one block per class; orthonormal within a block)."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}; valid choices: {list(KINDS)}")
    if k < 1 or c < 1 or blocks < 1:
        raise ValueError(f"k={k}, c={c} and blocks={blocks} should be >= 1")
    if kind == "orthonormal" and k > c:
        raise ValueError(f"orthonormal directions need k={k} <= c={c}")
    rng = np.random.default_rng([seed, 24])
    out = []
    for _ in range(blocks):
        G = rng.standard_normal((k, c))
        if kind == "orthonormal":
            Q, R = np.linalg.qr(G.T)
            G = (Q * np.sign(np.diag(R))).T  # Haar-distributed rows
        elif kind == "nonnegative":
            G = np.abs(G)
        out.append(G / np.linalg.norm(G, axis=1, keepdims=True))
    return np.concatenate(out).astype(np.float32)


def fit_random_sae(A, *, key, **fit_kwargs):
    """:func:`~jaxconcepts.sae.fit_sae` with ``freeze_decoder=True`` (module docstring)."""
    from jaxconcepts.sae._train import fit_sae

    return fit_sae(A, key=key, freeze_decoder=True, **fit_kwargs)


def paired_interval(scores: Sequence[float], baseline: Sequence[float], *, level: float = 0.95,
                    method: str = "t", n_boot: int = 10_000, seed: int = 0) -> dict:
    """Interval of the mean of ``scores[i] − baseline[i]``.

    Returns ``{"mean", "low", "high", "excludes_zero", "n", "method", "level",
    "differences"}``; ``excludes_zero`` is ``low > 0 or high < 0``. ``method="t"``: Student-t
    on the differences; ``"bootstrap"``: percentiles of ``n_boot`` resampled means (seeded).
    """
    d = np.asarray(scores, np.float64) - np.asarray(baseline, np.float64)
    if d.ndim != 1 or d.size < 2:
        raise ValueError(f"need two equal-length 1-D score lists of >= 2 seeds, got {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError("scores have NaN/Inf entries")
    if not 0 < level < 1:
        raise ValueError(f"level={level} should be in (0, 1)")
    n, mean = d.size, float(d.mean())
    if method == "t":
        half = float(stats.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / np.sqrt(n))
        low, high = mean - half, mean + half
    elif method == "bootstrap":
        rng = np.random.default_rng(seed)
        means = d[rng.integers(0, n, (n_boot, n))].mean(1)
        low, high = (float(x) for x in np.quantile(means, [0.5 - level / 2, 0.5 + level / 2]))
    else:
        raise ValueError(f"method={method!r}; valid choices: ['t', 'bootstrap']")
    return {"mean": mean, "low": low, "high": high, "excludes_zero": bool(low > 0 or high < 0),
            "n": n, "method": method, "level": level, "differences": d.tolist()}


def compare_to_random(fit: Callable[[int], object], fit_random: Callable[[int], object],
                      seeds: Sequence[int], *, W_true=None,
                      score: Callable[[np.ndarray], float] | None = None,
                      min_seeds: int = 5, **interval) -> dict:
    """Score ``fit(seed)`` against ``fit_random(seed)`` on every seed; paired interval.

    Args:
        fit, fit_random: ``seed -> fitted model or (k, c) dictionary``.
        seeds: at least ``min_seeds`` (default 5) distinct seeds.
        W_true, score: the score of a dictionary: ``score(W)``, or ``mcc(W, W_true)``.
        interval: :func:`paired_interval`'s ``level``, ``method``, ``n_boot``.

    Returns:
        :func:`paired_interval`'s dict plus ``"scores"``, ``"random_scores"``, ``"seeds"``.
    """
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) < max(2, min_seeds):
        raise ValueError(f"compare_to_random needs >= {max(2, min_seeds)} distinct seeds, "
                         f"got {seeds}")
    if score is None:
        if W_true is None:
            raise ValueError("give W_true (score = MCC against it) or a score function")

        def score(W):
            return mcc(W, W_true)
    ours = [float(score(atoms_of(fit(s)))) for s in seeds]
    rand = [float(score(atoms_of(fit_random(s)))) for s in seeds]
    return {**paired_interval(ours, rand, **interval), "scores": ours, "random_scores": rand,
            "seeds": seeds}


def sae_vs_random(A, W_true, seeds: Sequence[int], **fit_kwargs) -> dict:
    """:func:`compare_to_random` for an SAE (``fit_sae(A, key=key(seed), **fit_kwargs)``)
    against its random frozen decoder (same settings and seed); adds each side's R²."""
    from jaxconcepts.sae._metrics import explained_variance
    from jaxconcepts.sae._train import fit_sae

    r2 = {"fit": [], "random": []}

    def run(which, freeze):
        def f(seed):
            m = fit_sae(A, key=jax.random.key(seed), freeze_decoder=freeze, **fit_kwargs)
            r2[which].append(explained_variance(A, np.asarray(m.reconstruct(m.transform(A)))))
            return m
        return f

    out = compare_to_random(run("fit", False), run("random", True), seeds, W_true=W_true)
    return {**out, "r2": r2["fit"], "random_r2": r2["random"]}
