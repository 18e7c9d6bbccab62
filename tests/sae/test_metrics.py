"""Recovery and stability metrics on hand-made dictionaries."""

import numpy as np
import pytest

from jaxconcepts.sae import (
    abs_cosine,
    atom_recovery,
    dead_latents,
    explained_variance,
    mcc,
    pairwise_mcc,
    shared_atoms,
    stability,
)


def _unit(rng, k, c):
    W = rng.standard_normal((k, c))
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def test_identical_permuted_and_sign_flipped_score_one():
    W = _unit(np.random.default_rng(0), 12, 20)
    perm = np.random.default_rng(1).permutation(12)
    signs = np.where(np.arange(12) % 2, -1.0, 1.0)[:, None]
    for W_hat in (W, W[perm], signs * W[perm], 3.0 * W[perm]):
        assert mcc(W_hat, W) == pytest.approx(1.0)
        assert atom_recovery(W_hat, W) == {"precision": 1.0, "recall": 1.0, "f1": 1.0,
                                           "hits": 12}
        assert pairwise_mcc(W_hat, W) == pytest.approx(1.0)
        assert shared_atoms(W_hat, W) == 1.0


def test_random_dictionaries_score_low():
    rng = np.random.default_rng(0)
    W = _unit(rng, 64, 256)
    scores = [mcc(_unit(rng, 64, 256), W) for _ in range(5)]
    assert max(scores) < 0.3  # random 256-d directions: |cos| ~ 0.05, matched max ~ 0.2
    assert atom_recovery(_unit(rng, 64, 256), W)["hits"] == 0


def test_hand_computed_cosines_and_matching():
    W = np.eye(3)
    W_hat = np.array([[0.0, 0.6, 0.8], [1.0, 0.0, 0.0]])  # e1 found; e2/e3 at 0.6/0.8
    np.testing.assert_allclose(abs_cosine(W_hat, W), [[0, 0.6, 0.8], [1, 0, 0]])
    # matching: (0 -> e3, 0.8), (1 -> e1, 1.0); e2 unmatched counts 0
    assert mcc(W_hat, W) == pytest.approx((0.8 + 1.0) / 3)
    rec = atom_recovery(W_hat, W, threshold=0.9)
    assert rec["hits"] == 1 and rec["precision"] == 0.5 and rec["recall"] == pytest.approx(1 / 3)
    assert rec["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert pairwise_mcc(W_hat, W) == pytest.approx(0.9)
    assert shared_atoms(W_hat, W) == 0.5
    assert shared_atoms(W, W_hat) == pytest.approx(1 / 3)


def test_zero_atom_has_cosine_zero():
    assert abs_cosine(np.zeros((1, 3)), np.eye(3)).max() == 0.0


def test_explained_variance_and_dead_latents():
    A = np.random.default_rng(0).standard_normal((50, 4))
    assert explained_variance(A, A) == 1.0
    assert explained_variance(A, np.broadcast_to(A.mean(0), A.shape)) == pytest.approx(0.0)
    U = np.zeros((5, 4))
    U[1, 2] = 1.0
    assert dead_latents(U) == 3


def test_stability_over_runs():
    rng = np.random.default_rng(0)
    W = _unit(rng, 8, 10)
    s = stability([W, W[::-1], -W])
    assert s == {"pw_mcc": pytest.approx(1.0), "shared": 1.0, "pairs": 3}


def test_bad_input_raises():
    with pytest.raises(ValueError, match="same width"):
        mcc(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        mcc(np.full((2, 2), np.nan), np.eye(2))
    with pytest.raises(ValueError, match="threshold"):
        atom_recovery(np.eye(2), np.eye(2), threshold=0)
    with pytest.raises(ValueError, match="at least 2"):
        stability([np.eye(2)])
