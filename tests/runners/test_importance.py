"""``run_importance`` on a tiny store: the device (GAP + linear) path and a host head agree with
Eq. 3 computed by hand, and bad concept files are refused."""

import dataclasses

import numpy as np
import pytest

from jaxconcepts.heads import HostHead
from jaxconcepts.params import load_section
from jaxconcepts.runners import run_concepts, run_importance
from tests.runners.conftest import PARAMS

K, S = 3, 2


@pytest.fixture(scope="module")
def concepts(tiny_store):
    cfg = dataclasses.replace(load_section("concepts", PARAMS), n_concepts=K, n_sub_concepts=S,
                              batch_size=8, n_init=2, max_iter=20, methods=["cgap"])
    return run_concepts(tiny_store, cfg, progress=False)[0]


def _run(store, concepts, head, **kw):
    return run_importance(store, concepts, head=head, n_concepts=K, n_sub=S, target="pred",
                          batch_size=5, min_p=None, methods=("cgap",), progress=False, **kw)


def _probs(A, w, b):
    z = A.mean(axis=(2, 3)) @ w.T + b
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_eq3_by_hand_on_every_image_in_store_order(tiny_store, concepts):
    out, stats = _run(tiny_store, concepts, tiny_store.head)
    assert out["index"].tolist() == list(range(len(tiny_store)))
    w, b = np.asarray(tiny_store.head.weight), np.asarray(tiny_store.head.bias)
    A = np.concatenate([np.asarray(x["activations"], np.float64) for x in tiny_store.iter_batches(
        8, fields=("activations",), as_jax=False)])
    t = out["target"]
    p_t = _probs(A, w, b)[np.arange(len(A)), t]
    np.testing.assert_allclose(out["p_t"], p_t, rtol=1e-4)
    lab = concepts["cgap_labels"]
    for l in range(K):
        occluded = A * (lab != l)[:, :, None, None]
        p_c = _probs(occluded, w, b)[np.arange(len(A)), t]
        np.testing.assert_allclose(out["cgap_importance"][:, l], (p_t - p_c) / p_t * 100,
                                   rtol=1e-3, atol=1e-3)
    assert out["cgap_present"].any(1).all()
    assert stats["target"] == "pred"


def test_a_host_head_gives_what_the_closed_form_gives(tiny_store, concepts):
    w, b = np.asarray(tiny_store.head.weight), np.asarray(tiny_store.head.bias)
    host = HostHead(lambda maps: np.asarray(maps).mean(axis=(2, 3)) @ w.T + b, batch_size=7)
    dev, _ = _run(tiny_store, concepts, tiny_store.head)
    on_host, _ = _run(tiny_store, concepts, host)
    for f in ("cgap_importance", "cgap_keep_importance", "cgap_sub_importance", "p_t"):
        np.testing.assert_allclose(on_host[f], dev[f], rtol=1e-4, atol=1e-3)


def test_images_missing_from_the_concepts_file_are_named(tiny_store, concepts):
    short = {k: v[:-2] for k, v in concepts.items()}
    with pytest.raises(ValueError, match=r"images \[22, 23\] of the store have no row"):
        _run(tiny_store, short, tiny_store.head)
