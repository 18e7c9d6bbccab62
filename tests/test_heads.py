"""The one head type (:mod:`jaxconcepts.heads`): the GAP + linear record, the host head with an
optional gradient, a JAX callable, and :func:`as_head` / :func:`head_fn` that read them."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.heads import HeadParams, HostHead, as_head, head_fn, num_outputs


class _Record:  # any non-callable record with weight / bias reads as a HeadParams
    def __init__(self, weight, bias):
        self.weight, self.bias = weight, bias


def test_the_store_exports_the_same_head_record():
    from jaxconcepts.store import HeadParams as StoreHeadParams

    assert StoreHeadParams is HeadParams


def test_as_head_keeps_the_three_forms_and_reads_records():
    rec = HeadParams(np.eye(3, 4, dtype=np.float32), np.zeros(3, np.float32))
    host = HostHead(lambda m: np.zeros((len(m), 3)))
    f = lambda x: x  # noqa: E731
    assert as_head(rec) is rec and as_head(host) is host and as_head(f) is f
    got = as_head(_Record(rec.weight, rec.bias))
    assert isinstance(got, HeadParams) and got.weight is rec.weight
    with pytest.raises(TypeError, match="HeadParams .*HostHead .*callable"):
        as_head("nope")


def test_head_fn_is_the_closed_form_on_rows_and_refuses_a_host_head():
    rec = HeadParams(np.eye(3, 4, dtype=np.float32), np.arange(3, dtype=np.float32))
    rows = jnp.arange(8.0).reshape(2, 4)
    np.testing.assert_allclose(head_fn(rec)(rows), rows.mean(0)[:3] + jnp.arange(3.0))
    with pytest.raises(TypeError, match="HostHead"):
        head_fn(HostHead(lambda m: m))


def test_host_head_runs_in_chunks_and_checks_its_outputs():
    maps = np.random.default_rng(0).normal(size=(5, 2, 3, 3)).astype(np.float32)
    calls = []

    def fn(m):
        calls.append(len(m))
        return m.mean((2, 3)) @ np.ones((2, 4), np.float32)

    head = HostHead(fn, num_classes=4, batch_size=2)
    z = head.logits(maps)
    assert z.shape == (5, 4) and z.dtype == np.float32 and calls == [2, 2, 1]
    assert num_outputs(head) == 4 and num_outputs(HostHead(fn)) is None
    assert num_outputs(HeadParams(np.zeros((7, 2)), np.zeros(7))) == 7
    with pytest.raises(ValueError, match=r"\(5, 3\) logits"):
        HostHead(fn, num_classes=3).logits(maps)


def test_host_head_gradient_is_optional_and_its_absence_is_a_clear_error():
    maps = np.ones((3, 2, 2, 2), np.float32)
    target = np.zeros(3, np.int64)
    with pytest.raises(ValueError, match="no grad.*torch_head_with_grad"):
        HostHead(lambda m: m.sum((2, 3))).grads(maps, target)
    head = HostHead(lambda m: m.sum((2, 3)), grad=lambda m, t: np.ones_like(m), batch_size=2)
    np.testing.assert_array_equal(head.grads(maps, target), np.ones_like(maps))
    bad = head._replace(grad=lambda m, t: np.ones((len(m), 1)))
    with pytest.raises(ValueError, match="maps' shape"):
        bad.grads(maps, target)
