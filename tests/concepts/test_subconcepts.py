"""CGAP's sub-concepts on windows of the concept-sorted rows (concepts/_cgap.py) give the
sub-concepts of k-means on every row with the other concepts' rows weighted 0 (the definition,
kept in concepts/_subconcepts.split_concepts)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.concepts._cgap import _sub_concepts
from jaxconcepts.concepts._subconcepts import split_concepts
from jaxconcepts.kernels import group_pca_scores_t, kmeans_t


def _reference(x, w, lab, key, *, k, s):
    p2 = group_pca_scores_t(x, w, lab, k, s - 1)

    def sub_fn(wl, kk):
        return kmeans_t(p2, wl, kk, n_clusters=s, n_init=1, max_iter=100, tol=1e-4,
                        ties="first", sequential=True).labels

    return split_concepts(sub_fn, lab, w, key, n_concepts=k, n_sub_concepts=s, sequential=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_windows_equal_masked_k_means(seed):
    rng = np.random.default_rng(seed)
    n, f, k, s = 96, 6, 5, 3
    sizes = [30, 2, 0, 21, 17]  # one concept with fewer members than S, one empty; windows of
    lab = np.full(n, -1, np.int32)  # 8, 16, 32, 64, 96 rows: several sizes are used
    lab[: sum(sizes)] = rng.permutation(np.repeat(np.arange(k), sizes))
    w = (lab >= 0).astype(np.float32)
    x = (rng.normal(size=(n, f)) + 3 * rng.normal(size=(k + 1, f))[lab]).astype(np.float32)
    key = jax.random.key(seed)
    args = (jnp.asarray(x), jnp.asarray(w), jnp.asarray(lab), key)
    got = jax.jit(lambda x, w, l, kk: _sub_concepts(x, w, l, kk, 100, 1e-4, n_concepts=k,
                                                    n_sub=s, n_init=1, step=8))(*args)
    ref = jax.jit(lambda x, w, l, kk: _reference(x, w, l, kk, k=k, s=s))(*args)
    np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(ref[0]))
    np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(ref[1]))
    assert np.asarray(got[1]).tolist()[2] == 0  # the empty concept has no sub-concept
    assert np.all(np.asarray(got[0])[lab < 0] == -1)


@pytest.mark.slow
def test_split_concepts_sequential_equals_vmapped():
    """Splitting the concepts one after the other (CGAP's choice) gives the vmapped result."""
    from jaxconcepts.concepts import split_concepts

    rng = np.random.default_rng(5)
    xt = jnp.asarray(rng.normal(size=(2, 90)), jnp.float32)
    w = jnp.asarray(rng.random(90) < 0.9, jnp.float32)
    labels = jnp.asarray(np.where(np.asarray(w) > 0, rng.integers(0, 4, 90), -1), jnp.int32)

    def run(sequential):
        fn = lambda wl, k: kmeans_t(xt, wl, k, n_clusters=3, ties="first").labels  # noqa: E731
        return jax.jit(lambda l, w, k: split_concepts(
            fn, l, w, k, n_concepts=4, n_sub_concepts=3, sequential=sequential))(
                labels, w, jax.random.key(1))

    (sa, na), (sb, nb) = run(False), run(True)
    np.testing.assert_array_equal(np.asarray(sa), np.asarray(sb))
    np.testing.assert_array_equal(np.asarray(na), np.asarray(nb))
    assert np.all(np.asarray(na) == 3)
    np.testing.assert_array_equal(np.asarray(sa) >= 0, np.asarray(labels) >= 0)
