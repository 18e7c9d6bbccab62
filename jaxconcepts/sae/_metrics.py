"""Recovery of known atoms and stability across seeds: pure NumPy on dictionaries ``(k, c)``.

Every comparison starts from the absolute cosine matrix ``|C|_ij = |⟨ŵ_i, w_j⟩| / (‖ŵ_i‖‖w_j‖)``
(absolute: a dictionary's atoms are defined up to sign and order; a zero atom has cosine 0) and
a one-to-one matching of atoms, the Hungarian assignment maximising the total ``|C|``
(``scipy.optimize.linear_sum_assignment``; rectangular: ``min(k̂, k)`` pairs).

- :func:`mcc`: mean matched ``|cos|`` over the **true** atoms (a true atom left unmatched,
  when the learnt dictionary is smaller, counts 0) — the "mean correlation coefficient" of
  SynthSAEBench-style evaluations, on the dictionaries.
- :func:`atom_recovery`: with ``h`` matched pairs at ``|cos| ≥ threshold`` (0.9), precision
  ``h / k̂`` (learnt atoms that are real), recall ``h / k`` (real atoms found), and F1. One-to-one,
  so two copies of one true atom count once.
- :func:`explained_variance`: ``R² = 1 − Σ‖a − â‖² / Σ‖a − ā‖²``.
- :func:`dead_latents`: latents that never fire on the given codes.
- :func:`pairwise_mcc`: the mean matched ``|cos|`` between two runs' dictionaries (PW-MCC of
  arXiv 2505.20254); :func:`shared_atoms`: the share of the first run's atoms matched in the
  second at ``|cos| ≥ threshold``; :func:`stability`: both, averaged over every pair of runs.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["abs_cosine", "atom_recovery", "dead_latents", "explained_variance", "match",
           "mcc", "pairwise_mcc", "shared_atoms", "stability"]


def _dict(W, name):
    W = np.asarray(W, np.float64)
    if W.ndim != 2 or W.shape[0] == 0:
        raise ValueError(f"{name} should be a non-empty 2-D (k, c) dictionary, got {W.shape}")
    if not np.isfinite(W).all():
        raise ValueError(f"{name} has NaN/Inf entries")
    return W


def abs_cosine(W_hat, W) -> np.ndarray:
    """``(k̂, k)`` absolute cosines between the rows of two dictionaries (0 for a zero row)."""
    A, B = _dict(W_hat, "W_hat"), _dict(W, "W")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"dictionaries should have the same width c, got {A.shape} and "
                         f"{B.shape}")
    na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
    A = A / np.where(na > 0, na, 1.0)[:, None]
    B = B / np.where(nb > 0, nb, 1.0)[:, None]
    return np.abs(A @ B.T)


def match(W_hat, W) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hungarian matching maximising total ``|cos|``: ``(rows of W_hat, rows of W, |cos|)``."""
    C = abs_cosine(W_hat, W)
    r, c = linear_sum_assignment(C, maximize=True)
    return r, c, C[r, c]


def mcc(W_hat, W_true) -> float:
    """Mean over the true atoms of their matched ``|cos|`` (unmatched: 0); 1 = all found."""
    _, _, s = match(W_hat, W_true)
    return float(s.sum() / np.shape(W_true)[0])


def atom_recovery(W_hat, W_true, *, threshold: float = 0.9) -> dict:
    """``{"precision", "recall", "f1", "hits"}`` of one-to-one matches at ``|cos| ≥ threshold``."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold} should be in (0, 1]")
    _, _, s = match(W_hat, W_true)
    h = int(np.sum(s >= threshold))
    p, r = h / np.shape(W_hat)[0], h / np.shape(W_true)[0]
    f1 = 0.0 if h == 0 else 2 * p * r / (p + r)
    return {"precision": p, "recall": r, "f1": f1, "hits": h}


def explained_variance(A, R) -> float:
    """``1 − Σ‖a − â‖² / Σ‖a − ā‖²`` over the rows of ``A`` and reconstructions ``R`` ``(n, c)``."""
    A, R = np.asarray(A, np.float64), np.asarray(R, np.float64)
    if A.shape != R.shape or A.ndim != 2:
        raise ValueError(f"A and R should be (n, c) of one shape, got {A.shape} and {R.shape}")
    tot = np.sum((A - A.mean(0)) ** 2)
    if tot <= 0:
        raise ValueError("A has zero variance: R² is undefined")
    return float(1.0 - np.sum((A - R) ** 2) / tot)


def dead_latents(U) -> int:
    """Latents (columns of codes ``U (n, d)``) that are zero on every row."""
    U = np.asarray(U)
    return int(np.sum(~np.any(U != 0, axis=0)))


def pairwise_mcc(W1, W2) -> float:
    """Mean matched ``|cos|`` between two dictionaries (over the ``min(k1, k2)`` pairs)."""
    return float(np.mean(match(W1, W2)[2]))


def shared_atoms(W1, W2, *, threshold: float = 0.9) -> float:
    """Share of ``W1``'s atoms matched one-to-one in ``W2`` at ``|cos| ≥ threshold``."""
    return float(np.sum(match(W1, W2)[2] >= threshold) / np.shape(W1)[0])


def stability(dictionaries, *, threshold: float = 0.9) -> dict:
    """``{"pw_mcc", "shared", "pairs"}``: :func:`pairwise_mcc` and :func:`shared_atoms` (both
    directions) averaged over every pair of runs (at least two)."""
    Ws = list(dictionaries)
    if len(Ws) < 2:
        raise ValueError(f"stability needs at least 2 runs, got {len(Ws)}")
    pw, sh = [], []
    for a, b in itertools.combinations(Ws, 2):
        pw.append(pairwise_mcc(a, b))
        sh += [shared_atoms(a, b, threshold=threshold), shared_atoms(b, a, threshold=threshold)]
    return {"pw_mcc": float(np.mean(pw)), "shared": float(np.mean(sh)), "pairs": len(pw)}
