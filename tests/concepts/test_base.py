"""What CGAP and CPHA share (jaxconcepts/concepts/_base.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.concepts._base import (
    FLAG_ALL_ZERO,
    FLAG_FEW_CONCEPTS,
    argmax_live,
    canonical_labels,
    image_keys,
    live_channels,
    make_flags,
    validate_batch,
)


def test_image_keys_do_not_depend_on_the_batch():
    key = jax.random.key(0)
    ks = image_keys(key, jnp.array([3, 7], jnp.int32))
    one = image_keys(key, jnp.array([7], jnp.int32))
    np.testing.assert_array_equal(jax.random.key_data(ks[1]), jax.random.key_data(one[0]))
    np.testing.assert_array_equal(jax.random.key_data(ks[0]),
                                  jax.random.key_data(jax.random.fold_in(key, 3)))


def test_canonical_labels_order_by_weight_empty_last():
    labels = jnp.array([2, 2, 0, -1, 2, 0, 1])
    w = jnp.array([1.0, 1.0, 1.0, 5.0, 1.0, 1.0, 0.5])
    out, n = canonical_labels(labels, w, 4)
    # weights: old 2 -> 3, old 0 -> 2, old 1 -> 0.5, old 3 -> 0 (empty)
    np.testing.assert_array_equal(np.asarray(out), [0, 0, 1, -1, 0, 1, 2])
    assert int(n) == 3
    tie, _ = canonical_labels(jnp.array([1, 0]), jnp.ones(2), 2)
    np.testing.assert_array_equal(np.asarray(tie), [1, 0])  # ties keep the old order


def test_live_channels_and_argmax_match_numpy():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(2, 5, 7)).astype(np.float32)
    A[0, 1] = 0.0
    A[1, 3, 2:] = A[1, 3, 1]  # repeated maximum: the first one wins, like numpy
    mask = np.ones((2, 5), bool)
    mask[1, 4] = False
    expect_live = mask & (np.abs(A).max(-1) > 0)
    np.testing.assert_array_equal(np.asarray(live_channels(jnp.asarray(A), jnp.asarray(mask))),
                                  expect_live)
    idx, live = argmax_live(jnp.asarray(A), jnp.asarray(mask))
    assert idx.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(idx), np.argmax(A, -1))
    np.testing.assert_array_equal(np.asarray(live), expect_live)
    long = rng.normal(size=(1, 3, 300)).astype(np.float32)  # the long-row path
    idx, _ = argmax_live(jnp.asarray(long), jnp.ones((1, 3), bool))
    np.testing.assert_array_equal(np.asarray(idx), np.argmax(long, -1))


def test_make_flags():
    f = make_flags(jnp.array([3, 1, 0, 3]), jnp.array([5, 2, 0, 0]), 3)
    np.testing.assert_array_equal(np.asarray(f), [0, FLAG_FEW_CONCEPTS,
                                                  FLAG_FEW_CONCEPTS | FLAG_ALL_ZERO, FLAG_ALL_ZERO])


_OK = dict(n_concepts=2, n_sub_concepts=0, n_init=1, max_iter=5, tol=0.0)


def test_validate_batch_fills_defaults_and_wraps_raw_keys():
    A = np.zeros((2, 3, 2, 2), np.float32)
    A2, mask, index, key = validate_batch(A, None, None, jax.random.PRNGKey(0), **_OK)
    assert mask.shape == (2, 3) and mask.dtype == jnp.bool_ and bool(mask.all())
    np.testing.assert_array_equal(np.asarray(index), [0, 1])
    assert index.dtype == jnp.int32 and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    _, _, index, _ = validate_batch(A, None, np.array([4, 5], np.int64), jax.random.key(0), **_OK)
    assert index.dtype == jnp.int32


@pytest.mark.parametrize("change, err, msg", [
    (dict(A=np.zeros((2, 3, 4))), ValueError, "shape \\(B, C, H, W\\)"),
    (dict(A=np.zeros((2, 3, 2, 2), np.int32)), TypeError, "floating"),
    (dict(mask=np.ones((2, 4), bool)), ValueError, "mask should have shape"),
    (dict(mask=np.ones((2, 3), np.int32)), TypeError, "mask should be a bool"),
    (dict(index=np.arange(3)), ValueError, "index should have shape"),
    (dict(index=np.zeros(2, np.float32)), TypeError, "index should be an integer"),
    (dict(key=None), ValueError, "key is required"),
    (dict(key=np.zeros(3, np.uint32)), TypeError, "PRNG key"),
    (dict(n_concepts=1), ValueError, "n_concepts=1 should be an int >= 2"),
    (dict(n_sub_concepts=1), ValueError, "n_sub_concepts=1 should be 0"),
    (dict(n_init=True), ValueError, "n_init=True"),
    (dict(max_iter=0), ValueError, "max_iter=0"),
    (dict(group=0), ValueError, "group=0"),
    (dict(tol=-1.0), ValueError, "tol=-1.0"),
])
def test_validate_batch_errors(change, err, msg):
    args = dict(A=np.zeros((2, 3, 2, 2), np.float32), mask=None, index=None,
                key=jax.random.key(0), **_OK)
    args.update(change)
    A, mask, index, key = (args.pop(k) for k in ("A", "mask", "index", "key"))
    with pytest.raises(err, match=msg):
        validate_batch(A, mask, index, key, **args)
