"""The classifier head h (feature map -> logits): one type, and the one function that reads it.

A :data:`Head` is one of three things:

- :class:`HeadParams`: global average pool + linear layer, ``logits = A.mean((-2, -1)) @
  weight.T + bias`` (what a store records as ``store.head``). Every computation on it runs in JAX,
  most in closed form. Any other record with ``weight`` and ``bias`` (and not callable) reads as
  one.
- :class:`HostHead`: an h that JAX cannot trace (the rest of a torch network), run on the host in
  chunks of ``batch_size`` maps; with ``grad`` it also returns ``∂ logit_target / ∂ maps``, which
  the gradient rankings (Grad-CAM, Integrated Gradients) through a non-linear h need.
  ``jaxconcepts.features.torch_head`` / ``torch_head_with_grad`` build ``fn`` / ``grad`` from a
  store.
- a JAX-traceable callable. What it takes depends on who calls it: the occlusion importance
  (:func:`jaxconcepts.importance.concept_importance`) calls it on masked maps ``(n, C, H, W) ->
  (n, K)``; the metrics on rows (:mod:`jaxconcepts.metrics`, the C2MF suite) call it on one
  image's rows ``(p, c) -> (K,)`` (:func:`head_fn`).

:func:`as_head` checks a head and returns it in one of these three forms; everything that takes a
head (metrics, importance, the runners) passes it through :func:`as_head` first.

Nothing here imports torch (nor JAX at import): a host head's functions are built in
``jaxconcepts.features``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Union

import numpy as np

__all__ = ["Head", "HeadParams", "HostHead", "as_head", "head_fn", "num_outputs"]


class HeadParams(NamedTuple):
    """h = global average pool + linear: logits = A.mean((-2, -1)) @ weight.T + bias."""

    weight: Any  # (K, C) array (``store.head`` gives jax arrays)
    bias: Any  # (K,)


class HostHead(NamedTuple):
    """A head that JAX cannot trace (e.g. a torch module), run on the host in chunks.

    Attributes:
        fn: float32 maps ``(n, C, H, W)`` -> logits ``(n, K)`` (numpy, or anything
            ``np.asarray`` accepts).
        grad: ``(maps (n, C, H, W), target (n,))`` -> ``∂ logit_target / ∂ maps`` ``(n, C, H, W)``,
            or None when the head has no gradient (occlusion needs none; Grad-CAM and IG do).
        num_classes: K, when known (checked against what ``fn`` returns).
        batch_size: maps per call of ``fn`` / ``grad``.
    """

    fn: Callable[[Any], Any]
    grad: Callable[[Any, Any], Any] | None = None
    num_classes: int | None = None
    batch_size: int = 256

    def logits(self, maps: np.ndarray) -> np.ndarray:
        """``(n, K)`` float32 logits of ``maps`` ``(n, C, H, W)``, ``fn`` run in chunks.

        Raises:
            ValueError: ``fn`` returned something other than one row of K logits per map.
        """
        bs = max(1, int(self.batch_size))
        out = [np.asarray(self.fn(maps[s:s + bs]), np.float32) for s in range(0, len(maps), bs)]
        z = np.concatenate(out) if out else np.zeros((0, self.num_classes or 0), np.float32)
        K = z.shape[-1] if self.num_classes is None else int(self.num_classes)
        if z.shape != (len(maps), K):
            raise ValueError(f"head.fn should map {len(maps)} maps to ({len(maps)}, {K}) logits, "
                             f"got {z.shape}")
        return z

    def grads(self, maps: np.ndarray, target: np.ndarray) -> np.ndarray:
        """``∂ logit_target / ∂ maps`` ``(n, C, H, W)`` float32, ``grad`` run in chunks.

        Raises:
            ValueError: the head has no ``grad``, or it returned another shape than the maps'.
        """
        if self.grad is None:
            raise ValueError("this HostHead has no grad: the gradient rankings (Grad-CAM, "
                             "Integrated Gradients) through a host head need "
                             "HostHead(fn, grad=...), e.g. from "
                             "jaxconcepts.features.torch_head_with_grad")
        bs = max(1, int(self.batch_size))
        g = np.concatenate([np.asarray(self.grad(maps[s:s + bs], target[s:s + bs]), np.float32)
                            for s in range(0, len(maps), bs)])
        if g.shape != maps.shape:
            raise ValueError(f"head.grad should return the maps' shape {maps.shape}, "
                             f"got {g.shape}")
        return g


#: A head: the GAP + linear record, a host head, or a JAX-traceable callable (module docstring).
Head = Union[HeadParams, HostHead, Callable]


def as_head(head) -> Head:
    """``head`` as a :class:`HeadParams`, a :class:`HostHead` or a callable (module docstring):
    a non-callable record with ``weight`` and ``bias`` becomes a ``HeadParams``; the three forms
    are returned as they are.

    Raises:
        TypeError: none of the three.
    """
    if isinstance(head, (HeadParams, HostHead)) or callable(head):
        return head
    if hasattr(head, "weight") and hasattr(head, "bias"):
        return HeadParams(head.weight, head.bias)
    raise TypeError(f"head should be a HeadParams (weight, bias), a HostHead or a JAX callable, "
                    f"got {type(head).__name__}")


def head_fn(head) -> Callable:
    """The JAX-traceable ``h(rows (p, c)) -> (K,)`` of a head on one image's rows: for a
    ``HeadParams`` ``rows.mean(0) @ weight.T + bias``, a callable as it is.

    Raises:
        TypeError: a :class:`HostHead` (not traceable), or not a head at all.
    """
    import jax.numpy as jnp  # here: importing this module (metrics, the store) loads no JAX

    head = as_head(head)
    if isinstance(head, HostHead):
        raise TypeError("a HostHead runs on the host and cannot be traced by JAX; this needs a "
                        "HeadParams or a JAX callable on one image's rows")
    if isinstance(head, HeadParams):
        return lambda rows: rows.mean(0) @ jnp.asarray(head.weight).T + jnp.asarray(head.bias)
    return head


def num_outputs(head) -> int | None:
    """K, the number of logits of a head: a ``HeadParams``' rows, a ``HostHead``'s
    ``num_classes``; None when unknown (a callable, a host head without ``num_classes``)."""
    head = as_head(head)
    if isinstance(head, HeadParams):
        return int(np.shape(head.weight)[0])
    if isinstance(head, HostHead):
        return None if head.num_classes is None else int(head.num_classes)
    return None
