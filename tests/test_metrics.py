"""jaxconcepts.metrics: one convention (model, rows, classes, head) over the suites' functions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts import fit_pca_baseline, metrics
from jaxconcepts.store import HeadParams


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    X = np.abs(rng.standard_normal((12, 9, 8))).astype(np.float32)  # 12 images of 9 rows
    y = np.arange(12) % 2
    head = HeadParams(rng.standard_normal((3, 8)).astype(np.float32), np.zeros(3, np.float32))
    model = fit_pca_baseline(X.reshape(-1, 8), np.repeat(y, 9), 3, n_classes=2)
    return X, y, head, model


def test_head_fn_takes_a_record_or_a_callable():
    head = HeadParams(np.eye(3, 4, dtype=np.float32), np.arange(3, dtype=np.float32))
    rows = jnp.arange(8.0).reshape(2, 4)
    np.testing.assert_allclose(metrics.head_fn(head)(rows), rows.mean(0)[:3] + jnp.arange(3.0))
    f = lambda r: r.sum(0)  # noqa: E731
    assert metrics.head_fn(f) is f
    with pytest.raises(TypeError, match="HeadParams"):
        metrics.head_fn(np.zeros(3))


def test_a_callable_head_gives_what_its_record_gives(case):
    X, y, head, model = case
    as_fn = lambda r: r.mean(0) @ jnp.asarray(head.weight).T + jnp.asarray(head.bias)  # noqa
    a = metrics.insertion_deletion(model, X, y, head, ranking="gradcam")
    b = metrics.insertion_deletion(model, X, y, as_fn, ranking="gradcam")
    np.testing.assert_allclose(a.insertion_auc, b.insertion_auc, rtol=1e-5)
    np.testing.assert_allclose(a.deletion, b.deletion, rtol=1e-5)
    ra = metrics.reconstruction_accuracy(model, X, y, head)
    rb = metrics.reconstruction_accuracy(model, X, y, as_fn)
    np.testing.assert_array_equal(ra["acc_pred"], rb["acc_pred"])


def test_full_rank_reconstruction_keeps_every_prediction(case):
    """PCA with k = c per class reconstructs exactly: the head keeps its class on every image,
    and all concepts inserted is the image itself."""
    X, y, head, _ = case
    full = fit_pca_baseline(X.reshape(-1, 8), np.repeat(y, 9), 8, n_classes=2)
    acc = metrics.reconstruction_accuracy(full, X, y, head)
    assert acc["acc_pred_mean"] == 1.0 and np.isnan(acc["acc_label_mean"])
    curves = metrics.insertion_deletion(full, X, y, head)
    p = jax.nn.softmax(jax.vmap(metrics.head_fn(head))(jnp.asarray(X)))
    target = np.asarray(jnp.argmax(p, axis=1))
    np.testing.assert_allclose(curves.insertion[:, -1], np.asarray(p)[np.arange(12), target],
                               rtol=1e-4)
    mse = metrics.train_test_mse(full, X[:6].reshape(-1, 8), np.repeat(y[:6], 9),
                                 X[6:].reshape(-1, 8), np.repeat(y[6:], 9))
    assert mse["train_mse"] < 1e-8 and mse["test_mse"] < 1e-8


def test_bad_input_is_named(case):
    X, y, head, model = case
    with pytest.raises(ValueError, match=r"A_images should be \(n_images, p, c\)"):
        metrics.reconstruction_accuracy(model, X.reshape(-1, 8), y, head)
    with pytest.raises(ValueError, match=r"y should be \(12,\) non-negative ints"):
        metrics.insertion_deletion(model, X, y[:5], head)
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.reconstruction_accuracy(model, bad, y, head)


def test_recovery_metrics_on_known_atoms():
    W = np.linalg.qr(np.random.default_rng(1).standard_normal((8, 8)))[0][:4]
    assert metrics.mcc(W[::-1], W) == pytest.approx(1.0)
    assert metrics.atom_recovery(W, W)["f1"] == pytest.approx(1.0)
    assert metrics.stability([W, W[::-1]])["pw_mcc"] == pytest.approx(1.0)
