"""The C2MF suite's fits and their evaluation (jaxconcepts/evaluation/c2mf/_fit_evaluate.py): the
method and params lists, argument checks, the shared-dictionary ablation's pieces."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxconcepts._schema import C2MF
from jaxconcepts.evaluation.c2mf._fit_evaluate import (
    CONTROLS, FIT_KEYS, METHODS, STREAM_KEYS, SharedDictionary, cluster_pool, control_models,
    fit_method,
)
from jaxconcepts.evaluation.c2mf._sae_adapter import SAE_METHODS


def test_methods_and_params_lists_name_real_c2mf_params():
    assert METHODS[:3] == ("c2mf", "craft", "pca") and METHODS[3:] == SAE_METHODS
    fields = {f.name for f in dataclasses.fields(C2MF)}
    assert set(FIT_KEYS) <= fields and set(STREAM_KEYS) <= fields
    assert STREAM_KEYS[:len(FIT_KEYS)] == FIT_KEYS and len(set(STREAM_KEYS)) == len(STREAM_KEYS)
    assert {f"random_{m}" for m in METHODS} <= set(CONTROLS)


def test_fit_method_checks_the_method_and_the_random_decoder():
    kw = {k: 1 for k in FIT_KEYS}
    A, y = np.ones((4, 3), np.float32), np.zeros(4, np.int32)
    with pytest.raises(ValueError, match="method='nmf'; valid choices"):
        fit_method("nmf", A, y, 2, key=jax.random.key(0), n_classes=1, **kw)
    with pytest.raises(ValueError, match="random_decoder=True is the SAEs' control; "
                                         "method='pca' is not an SAE"):
        fit_method("pca", A, y, 2, key=jax.random.key(0), n_classes=1, random_decoder=True, **kw)


def test_sae_controls_are_refitted():
    with pytest.raises(ValueError, match="refit=None: the control of the topk SAE"):
        control_models("topk", None, key=jax.random.key(0))
    assert control_models("topk", None, key=jax.random.key(0), refit=lambda: "fit") == \
        {"random_topk": "fit"}


@pytest.mark.parametrize("nonneg", [True, False])
def test_shared_dictionary_codes_and_reconstructs(nonneg):
    rng = np.random.default_rng(0)
    W = np.abs(rng.normal(size=(3, 6))).astype(np.float32)
    U = np.abs(rng.normal(size=(5, 3))).astype(np.float32)
    d = SharedDictionary(W=W, n_classes=2, nonneg=nonneg)
    assert d.concepts.shape == (2, 3, 6)
    np.testing.assert_array_equal(np.asarray(d.concepts[1]), W)
    codes = np.asarray(d.transform(U @ W, np.zeros(5, np.int32)))
    np.testing.assert_allclose(codes, U, atol=1e-3)
    np.testing.assert_allclose(np.asarray(d.reconstruct(codes, None)), U @ W, atol=1e-3)


def test_cluster_pool_keeps_one_concept_per_cluster():
    rng = np.random.default_rng(0)
    centers = 10 * np.eye(3, 5)
    per_class = centers[None] + 0.01 * rng.normal(size=(4, 3, 5))  # 4 classes x 3 concepts
    per_class[0, 0] = 0.0  # dead concepts are dropped
    got = np.asarray(cluster_pool(per_class, 3, seed=0, signed=False))
    pooled = per_class.reshape(-1, 5)
    assert got.shape == (3, 5) and got.dtype == np.float32
    assert sorted(np.argmax(got, 1).tolist()) == [0, 1, 2]  # one per cluster
    assert all(np.abs(pooled - g).sum(1).min() < 1e-5 for g in got)  # each is a pooled concept
    assert cluster_pool(per_class[:1, :2], 3, seed=0, signed=False) is None
    flipped = per_class * np.where(rng.random((4, 3, 1)) < 0.5, -1, 1)
    signed = np.asarray(cluster_pool(flipped, 3, seed=0, signed=True))
    assert (signed.max(1) > 9).all()  # signs fixed: largest entry positive
