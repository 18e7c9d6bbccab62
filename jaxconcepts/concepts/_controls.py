"""Controls for the C2MF paper's claims: fitted models with one ingredient removed or randomised.

Each function takes a fitted model and returns a model of the **same type** (an equinox Module
with some leaves replaced), so a control runs through the same ``transform`` / ``reconstruct``
protocol and the same evaluation suite as the model it controls; nothing is refitted.

- :func:`without_class_mean` — PCA with its class means set to 0: codes ``A W_yᵀ`` (the
  least-squares codes on the orthonormal components) and reconstruction ``U W_y``. What the k
  components alone carry of a row, without the true class's mean activation.
- :func:`with_gates` / :func:`uniform_gates` / :func:`other_class_gates` — C2MF whose class
  gates σ(λ_y) are replaced at test time; codes are re-solved with the new gates (the box
  ``0 ≤ U ≤ 1`` and the gates cap how much of each atom a class may use).
- :func:`random_dictionary` — the model with its dictionary replaced by random atoms of the same
  shape and row norms; codes come from the method's own solver on the new rows (C2MF: box-NNLS
  with the fitted gates; CRAFT: NNLS; PCA: projection on orthonormal rows, i.e. least squares,
  class mean kept). Chance at the same k.

Notation as in the paper: A ≈ U W.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.concepts._c2mf import C2MF
from jaxconcepts.concepts._craft import Craft
from jaxconcepts.concepts._pca_baseline import PCABaseline

__all__ = ["without_class_mean", "with_gates", "uniform_gates", "other_class_gates",
           "random_dictionary"]

#: gates are stored as logits; a gate of exactly 0 or 1 is kept finite by clipping to this
_GATE_EPS = 1e-6


def without_class_mean(model: PCABaseline) -> PCABaseline:
    """PCA without its class means: ``transform(A, y) = A W_yᵀ``, ``reconstruct = U W_y``."""
    if not isinstance(model, PCABaseline):
        raise TypeError(f"model should be a PCABaseline, got {type(model).__name__}")
    return eqx.tree_at(lambda m: m.mean, model, jnp.zeros_like(model.mean))


def with_gates(model: C2MF, gates) -> C2MF:
    """C2MF whose class y uses ``gates[y]`` ``(Y, k)`` in (0, 1] (clipped to stay finite as logits).

    Raises:
        ValueError: ``gates`` is not ``(Y, k)`` or leaves [0, 1].
    """
    if not isinstance(model, C2MF):
        raise TypeError(f"model should be a C2MF, got {type(model).__name__}")
    g = np.asarray(gates, np.float64)
    if g.shape != tuple(model.logits.shape):
        raise ValueError(f"gates should have shape {tuple(model.logits.shape)} (Y, k), "
                         f"got {g.shape}")
    if not np.all((g >= 0) & (g <= 1)):
        raise ValueError(f"gates should lie in [0, 1], got range [{g.min():.3g}, {g.max():.3g}]")
    g = np.clip(g, _GATE_EPS, 1 - _GATE_EPS)
    logits = jnp.asarray(np.log(g) - np.log1p(-g), model.logits.dtype)
    return eqx.tree_at(lambda m: m.logits, model, logits)


def _fitted(model: C2MF) -> np.ndarray:
    Y = model.logits.shape[0]
    return np.ones(Y, bool) if model.fitted is None else np.asarray(model.fitted, bool)


def uniform_gates(model: C2MF) -> C2MF:
    """C2MF with every gate of every class equal to the model's mean gate (over fitted classes
    and atoms): the same total gate budget, no preference for a class or an atom."""
    fitted = _fitted(model)
    g = np.asarray(model.gates)[fitted]
    mean = float(g.mean()) if g.size else 0.5
    return with_gates(model, np.full(model.logits.shape, mean))


def other_class_gates(model: C2MF, shift: int = 1) -> C2MF:
    """C2MF whose class y uses the gates of class ``(y + shift) mod Y`` (among fitted classes,
    in order, so a fitted class never borrows the zero gates of an unfitted one).

    Raises:
        ValueError: fewer than 2 fitted classes (no other class to borrow from).
    """
    fitted = np.flatnonzero(_fitted(model))
    if fitted.size < 2:
        raise ValueError(f"other_class_gates needs >= 2 fitted classes, got {fitted.size}")
    g = np.asarray(model.gates, np.float64)
    out = g.copy()
    out[fitted] = g[np.roll(fitted, -int(shift))]
    return with_gates(model, out)


def _unit_rows(X):
    n = jnp.linalg.norm(X, axis=-1, keepdims=True)
    return X / jnp.where(n > 0, n, 1.0)


def random_dictionary(model, *, key: jax.Array):
    """The model with random atoms of the same shape and row norms (module docstring).

    C2MF: Gaussian rows scaled to ``atom_norm`` ρ, fitted gates kept. CRAFT: |Gaussian| rows
    scaled to the norm of the fitted row they replace (a class without rows keeps zeros). PCA:
    per class a random orthonormal k-frame (QR of a Gaussian matrix), class means kept.

    Raises:
        TypeError: a model type without a random counterpart.
    """
    if isinstance(model, C2MF):
        R = jax.random.normal(key, model.W.shape, model.W.dtype)
        return eqx.tree_at(lambda m: m.W, model, model.atom_norm * _unit_rows(R))
    if isinstance(model, Craft):
        R = jnp.abs(jax.random.normal(key, model.W.shape, model.W.dtype))
        norms = jnp.linalg.norm(model.W, axis=-1, keepdims=True)
        return eqx.tree_at(lambda m: m.W, model, _unit_rows(R) * norms)
    if isinstance(model, PCABaseline):
        Y, k, c = model.W.shape
        R = jax.random.normal(key, (Y, c, k), model.W.dtype)
        Q = jnp.linalg.qr(R)[0]  # (Y, c, k) orthonormal columns
        alive = jnp.any(model.W != 0, axis=(1, 2))[:, None, None]
        return eqx.tree_at(lambda m: m.W, model, jnp.where(alive, jnp.swapaxes(Q, 1, 2), 0.0))
    raise TypeError(f"random_dictionary: no random counterpart for {type(model).__name__}; "
                    "expected C2MF, Craft or PCABaseline")
