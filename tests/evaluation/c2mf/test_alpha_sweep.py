"""α sweep: bookkeeping on a fake solver (exact numbers); the real C2MF closes gates as α grows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.evaluation.c2mf._alpha_sweep import alpha_sweep
from jaxconcepts.report import alpha_sweep_table


class _Fake:
    """W = identity on 2 channels; gates set by α: class 0 keeps both, class 1 closes C1 at α>0."""

    def __init__(self, alpha):
        self.W = jnp.eye(2)
        self.gates = jnp.array([[1.0, 1.0], [1.0, 0.9 if alpha == 0 else 0.1]])
        self.loss_history = np.array([3.0, 2.0])
        self.n_steps = 2

    def transform(self, A, y):
        return jnp.asarray(A) / self.gates[jnp.asarray(y)]


def _fake_fit(A, y, k, *, key, alpha, n_classes, **kw):
    assert kw == {"max_steps": 3}
    return _Fake(alpha)


def _head(rows):  # class 0 if channel 0 dominates, else class 1
    m = rows.mean(0)
    return jnp.stack([m[0], m[1]])


def test_bookkeeping_with_fake_solver(key):
    A_img = np.array([[[2.0, 0.0]], [[0.0, 2.0]]], np.float32)  # (B=2, p=1, c=2)
    y = np.array([0, 1])
    rows = alpha_sweep(np.zeros((4, 2)), np.zeros(4, int), A_img, y, _head, alphas=[0.0, 1.0],
                       k=2, key=key, n_classes=2, gate_threshold=0.5,
                       fit=_fake_fit, fit_kwargs={"max_steps": 3})
    r0, r1 = rows
    assert r0["frac_open"] == 1.0 and r0["concepts_per_class"] == 2.0
    assert r1["frac_open"] == 0.75 and r1["concepts_per_class"] == 1.5
    # exact reconstruction with every gate; closing C1 for class 1 destroys its image
    assert r1["mse"] == pytest.approx(0.0, abs=1e-7) and r1["acc_pred"] == 1.0
    assert r1["mse_open_only"] == pytest.approx(4.0 / 4) and r1["acc_pred_open_only"] == 0.5
    assert r1["rel_mse_open_only"] == pytest.approx(0.5)  # mean A² = 2
    assert r1["objective"] == 2.0 and r1["n_steps"] == 2
    md = alpha_sweep_table(rows, title="toy")
    assert "| 1 | 75.0% | 1.5/2 |" in md


def test_bad_alphas(key):
    with pytest.raises(ValueError, match="alphas"):
        alpha_sweep(np.zeros((4, 2)), np.zeros(4, int), np.zeros((1, 1, 2)), np.zeros(1, int),
                    _head, alphas=[-1.0], k=1, key=key, n_classes=1,
                    gate_threshold=0.5, fit=_fake_fit)


@pytest.mark.slow
def test_real_c2mf_gates_close_as_alpha_grows():
    # 2 classes built from disjoint atoms: a large α must close gates, α = 0 keeps them open
    rng = np.random.default_rng(0)
    atoms = np.eye(6, dtype=np.float32)[:4] * 3
    n = 60
    y = np.repeat([0, 1], n)
    U = rng.uniform(0, 1, (2 * n, 2)).astype(np.float32)
    A = np.where(y[:, None] == 0, U @ atoms[:2], U @ atoms[2:]) + rng.normal(0, 0.01, (2 * n, 6))
    A = A.astype(np.float32)
    A_img = A.reshape(-1, 4, 6)
    y_img = y.reshape(-1, 4)[:, 0]
    W = jnp.zeros((2, 6)).at[0, :2].set(1.0).at[1, 2:4].set(1.0)

    def head(rows):
        return rows.mean(0) @ W.T

    rows = alpha_sweep(A, y, A_img, y_img, head, alphas=[0.0, 1e4], k=4,
                       key=jax.random.key(0), n_classes=2, gate_threshold=0.5,
                       fit_kwargs={"max_steps": 200})
    assert rows[0]["frac_open"] > rows[1]["frac_open"]
    assert rows[0]["rel_mse"] < 0.05


def test_validation_split_keeps_the_test_images_out_and_every_class_fitted():
    """α is chosen on train images only: the validation images are a per-class part of the
    train positions, disjoint from the images fitted on, and a class with one train image keeps
    it for the fit."""
    from jaxconcepts.evaluation.c2mf._alpha_sweep import validation_split

    train = np.array([0, 2, 3, 5, 7, 8, 9, 11, 12, 14])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 0])
    y[8] = 2  # class 2 has a single train image
    fit, val, y_fit, y_val = validation_split(train, y, seed=0)
    assert set(fit) | set(val) == set(train) and not set(fit) & set(val)
    assert (np.diff(fit) > 0).all() and (np.diff(val) > 0).all()
    pos = {int(p): int(c) for p, c in zip(train, y)}
    assert [pos[int(p)] for p in fit] == list(y_fit) and [pos[int(p)] for p in val] == list(y_val)
    assert 2 in set(y_fit) and 2 not in set(y_val)
    assert set(y_val) == {0, 1} and set(y_fit) >= {0, 1}
    assert not set(val) & {1, 4, 6, 10, 13}  # positions outside train (the test images)
    again = validation_split(train, y, seed=0)
    assert all((a == b).all() for a, b in zip(again, (fit, val, y_fit, y_val)))
