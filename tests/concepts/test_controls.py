"""Test-time controls of the C2MF suite: PCA without its class mean, C2MF with other gates, random
dictionaries (jaxconcepts.concepts._controls)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.concepts import (
    C2MF,
    fit_c2mf,
    fit_craft,
    fit_pca_baseline,
    other_class_gates,
    random_dictionary,
    uniform_gates,
    with_gates,
    without_class_mean,
)
from jaxconcepts.evaluation import consistency, reconstruction_accuracy

from tests.planted import FIT, K, planted


def _mse(model, A, y):
    return float(np.mean((np.asarray(model.reconstruct(model.transform(A, y), y)) - A) ** 2))


def test_pca_class_mean_reconstructs_the_class_and_the_components_alone_do_not():
    """Class 0: rows (5, t, 0); class 1: rows (0, t, 5). One component per class, (0, ±1, 0),
    so with its class mean PCA is exact; without it only (0, t, 0) is left, which a head that
    reads channels 0 and 2 cannot tell apart."""
    t = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
    A = np.concatenate([np.stack([np.full(8, 5.0), t, np.zeros(8)], 1),
                        np.stack([np.zeros(8), t, np.full(8, 5.0)], 1)]).astype(np.float32)
    y = np.repeat([0, 1], 8).astype(np.int32)
    pca = fit_pca_baseline(A, y, 1)
    bare = without_class_mean(pca)
    np.testing.assert_allclose(np.abs(np.asarray(pca.W)[:, 0]), [[0, 1, 0], [0, 1, 0]], atol=1e-5)
    assert _mse(pca, A, y) < 1e-10
    Ab = np.asarray(bare.reconstruct(bare.transform(A, y), y))
    np.testing.assert_allclose(Ab, np.stack([np.zeros(16), np.tile(t, 2), np.zeros(16)], 1),
                               atol=1e-5)
    np.testing.assert_allclose(_mse(bare, A, y), 25.0 / 3, rtol=1e-5)  # the mean, left out
    head_w = jnp.asarray([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    h = lambda rows: rows.mean(0) @ head_w.T  # noqa: E731  GAP + linear
    A_img = A.reshape(16, 1, 3)  # one row per image
    full = reconstruction_accuracy(pca, A_img, y, y, y, h, n_classes=2)
    none = reconstruction_accuracy(bare, A_img, y, y, y, h, n_classes=2)
    assert full["acc_pred_mean"] == 1.0
    assert none["acc_pred_mean"] == 0.5  # ties go to class 0: class 1 is never recovered
    assert np.asarray(bare.mean).max() == 0.0 and np.asarray(pca.mean).max() == 5.0  # untouched


def _two_class_c2mf():
    """Atoms e0, e1 (ρ = 1); class 0 opens atom 0 only, class 1 atom 1 only."""
    logits = jnp.asarray([[12.0, -12.0], [-12.0, 12.0]])
    return C2MF(jnp.eye(2, dtype=jnp.float32), logits, 1.0, np.zeros(0), 0, True)


def test_uniform_and_other_class_gates_change_the_reconstruction_when_classes_use_different_atoms():
    model = _two_class_c2mf()
    u = np.linspace(0.1, 1.0, 10, dtype=np.float32)
    A = np.concatenate([np.stack([u, 0 * u], 1), np.stack([0 * u, u], 1)])  # class y on atom y
    y = np.repeat([0, 1], 10).astype(np.int32)
    assert _mse(model, A, y) < 1e-8  # own gates: exact
    other = other_class_gates(model)
    np.testing.assert_allclose(np.asarray(other.gates), np.asarray(model.gates)[::-1], atol=1e-6)
    # class 0 may only use atom 1 and vice versa: nothing of the row is reconstructed
    np.testing.assert_allclose(np.asarray(other.reconstruct(other.transform(A, y), y)), 0.0,
                               atol=1e-4)
    np.testing.assert_allclose(_mse(other, A, y), np.mean(u ** 2) / 2, rtol=1e-3)
    uni = uniform_gates(model)
    g = np.asarray(uni.gates)
    np.testing.assert_allclose(g, np.full((2, 2), np.asarray(model.gates).mean()), rtol=1e-5)
    # every atom capped at the mean gate 0.5: a row is reconstructed up to 0.5
    rec = np.asarray(uni.reconstruct(uni.transform(A, y), y))
    np.testing.assert_allclose(rec.max(1), np.minimum(np.tile(u, 2), 0.5), atol=1e-4)
    assert _mse(uni, A, y) > 1e-2 and np.asarray(model.W).tolist() == np.asarray(uni.W).tolist()


def test_other_class_gates_is_the_next_fitted_class_and_gates_are_validated():
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)
    fitted = jnp.asarray([True, True, False, True])
    model = C2MF(jnp.eye(3, dtype=jnp.float32), logits, 1.0, np.zeros(0), 0, True, fitted)
    g, o = np.asarray(model.gates), np.asarray(other_class_gates(model).gates)
    np.testing.assert_allclose(o[[0, 1, 3]], g[[1, 3, 0]], rtol=1e-5)  # class 2 is skipped
    assert np.all(o[2] == 0)
    with pytest.raises(ValueError, match=r"gates should have shape \(4, 3\)"):
        with_gates(model, np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"gates should lie in \[0, 1\]"):
        with_gates(model, np.full((4, 3), 2.0))
    with pytest.raises(ValueError, match=">= 2 fitted classes"):
        other_class_gates(C2MF(jnp.eye(3), logits[:1], 1.0, np.zeros(0), 0, True))
    with pytest.raises(TypeError, match="PCABaseline"):
        without_class_mean(model)


@pytest.mark.slow
def test_random_dictionary_keeps_shape_and_norms_and_is_worse_than_the_fitted_one():
    """On planted rows (A = U W_true, class y on its recipe's atoms) each method's fitted
    dictionary reconstructs fresh test rows far better than random atoms of the same shape."""
    key = jax.random.key(0)
    A, y, _, _ = planted(0, noise=0.01)
    A_te, y_te, _, _ = planted(0, noise=0.01, rows_seed=1)
    c2 = fit_c2mf(A, y, K, key=key, alpha=0.0, **FIT)
    r2 = random_dictionary(c2, key=key)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(r2.W), axis=1), c2.atom_norm, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(r2.gates), np.asarray(c2.gates))
    assert _mse(r2, A_te, y_te) > 5 * _mse(c2, A_te, y_te)

    pca = fit_pca_baseline(A, y, 3)
    rp = random_dictionary(pca, key=key)
    for Wy in np.asarray(rp.W):
        np.testing.assert_allclose(Wy @ Wy.T, np.eye(3), atol=1e-5)  # orthonormal, like PCA's
    np.testing.assert_array_equal(np.asarray(rp.mean), np.asarray(pca.mean))
    assert _mse(rp, A_te, y_te) > 5 * _mse(pca, A_te, y_te)

    An, yn, _, _ = planted(0, noise=0.0, signed=False)
    An_te, yn_te, _, _ = planted(0, noise=0.0, signed=False, rows_seed=1)
    craft = fit_craft(An, yn, 3, key=key, max_iter=300)
    rc = random_dictionary(craft, key=key)
    assert np.asarray(rc.W).min() >= 0
    np.testing.assert_allclose(np.linalg.norm(np.asarray(rc.W), axis=-1),
                               np.linalg.norm(np.asarray(craft.W), axis=-1), rtol=1e-5)
    assert _mse(rc, An_te, yn_te) > 5 * _mse(craft, An_te, yn_te)
    # a different key draws different atoms; the same key the same ones
    assert not np.allclose(np.asarray(random_dictionary(pca, key=jax.random.key(1)).W),
                           np.asarray(rp.W))
    np.testing.assert_array_equal(np.asarray(random_dictionary(pca, key=key).W), np.asarray(rp.W))
    # the controls run through the suite's metrics unchanged
    c = consistency(r2, A, y, A_te, y_te)
    assert c["test_mse"] > 5 * consistency(c2, A, y, A_te, y_te)["test_mse"]
