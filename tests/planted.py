"""Planted-concept data for the C2MF tests: A = (U ⊙ recipe_y) W_true + noise (ground truth)."""

from __future__ import annotations

import numpy as np

from jaxconcepts.streaming import planted_atoms, planted_rows

# shapes shared by every C2MF test so the jitted solver compiles once per session
N, C, K, Y = 300, 30, 5, 3
RECIPES = np.array([[1, 1, 0, 0, 0], [0, 1, 1, 1, 0], [0, 0, 0, 1, 1]], bool)
FIT = dict(max_steps=300)


def planted(seed: int, *, noise: float = 0.01, signed: bool = True, n: int = N,
            rows_seed: int | None = None):
    """Rows of 3 classes; class y uses the concepts of RECIPES[y] with codes in [0, 1].

    ``rows_seed`` draws fresh rows (labels, codes, noise) on the same dictionary as ``seed``.
    """
    rng = np.random.default_rng(seed)
    W = planted_atoms(K, C, rng=rng, nonnegative=not signed)
    if rows_seed is not None:
        rng = np.random.default_rng([seed, rows_seed])
    A, y, U = planted_rows(W, RECIPES, n, rng=rng, noise=noise)
    return A, y, U, W.astype(np.float32)


def mean_abs_cos(W) -> float:
    """Mean |cosine| over distinct pairs of rows (the paper's concept similarity)."""
    W = np.asarray(W, np.float64)
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    G = Wn @ Wn.T
    return float(np.abs(G[~np.eye(len(W), dtype=bool)]).mean())


def match_atoms(W_fit, W_true):
    """For each true atom, the |cosine| of its best-matching fitted atom, and that atom's index."""
    a = np.asarray(W_fit, np.float64)
    b = np.asarray(W_true, np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    cos = np.abs(b @ a.T)
    return cos.max(1), cos.argmax(1)
