"""CGAP's and CPHA's public phases (what ``benchmarks/clustering.py --profile`` times) compute
what the fused programs compute: the same labels and the same three metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.concepts import cgap, cgap_phases, cpha, cpha_phases, image_keys, run_phases


def _batch(b=3, c=24, h=4, w=4):
    rng = np.random.default_rng(0)
    A = np.maximum(rng.standard_normal((b, c, h, w)), 0).astype(np.float32)
    A[:, ::5] = 0  # dead channels
    return A


def _state(A, key):
    b, c, h, w = A.shape
    return {"A": jnp.asarray(A.reshape(b, c, h * w)),
            "keys": image_keys(key, jnp.arange(b, dtype=jnp.int32))}


@pytest.mark.slow  # compiles CGAP's fused program and its seven phases (about 20 s)
def test_cgap_phases_match_cgap():
    A, key = _batch(), jax.random.key(0)
    kw = dict(n_concepts=3, n_sub_concepts=2, n_init=1, max_iter=50, tol=1e-4, block=(8, 64))
    fused = cgap(jnp.asarray(A), key=key, **kw)
    phases = cgap_phases(A.shape[1], **kw)
    assert [p.name for p in phases] == ["live_channels_and_compaction", "pca", "kmeans",
                                        "sub_concepts", "silhouette", "calinski_harabasz",
                                        "davies_bouldin"]
    s = run_phases(phases, _state(A, key))
    order = np.asarray(s["order"])
    for name, got in (("labels", s["labels"]), ("sub_labels", s["sub_labels"])):
        full = np.full(A.shape[:2], -1)
        for i in range(len(A)):
            full[i, order[i]] = np.asarray(got)[i]
        np.testing.assert_array_equal(full, np.asarray(getattr(fused, name)), err_msg=name)
    met = np.stack([s["silhouette"], s["calinski_harabasz"], s["davies_bouldin"]], 1)
    np.testing.assert_allclose(met, np.asarray(fused.metrics), rtol=1e-5, atol=1e-6)


def test_cpha_phases_match_cpha():
    A, key = _batch(), jax.random.key(1)
    kw = dict(n_concepts=3, n_sub_concepts=0, n_init=1, max_iter=50, tol=1e-4, group=2)
    fused = cpha(jnp.asarray(A), key=key, **kw)
    phases = cpha_phases(A.shape[2:], **kw)
    assert "sub_concepts" not in [p.name for p in phases]
    calls = []
    s = run_phases(phases, _state(A, key), call=lambda p, a: calls.append(p.name) or
                   p.program(*a))
    assert calls == [p.name for p in phases]
    met = np.stack([s["silhouette"], s["calinski_harabasz"], s["davies_bouldin"]], 1)
    np.testing.assert_allclose(met, np.asarray(fused.metrics), rtol=1e-5, atol=1e-6)
