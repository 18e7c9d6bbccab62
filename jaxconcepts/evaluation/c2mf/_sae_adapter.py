"""Sparse autoencoders in the C2MF suite: the adapter, the fits and their record.

An SAE (:mod:`jaxconcepts.sae`: TopK, BatchTopK, JumpReLU, Matryoshka, archetypal) is a
dictionary shared by all classes, like C2MF's but without gates: :class:`SAEConcepts` gives a
fitted :class:`~jaxconcepts.sae.SAE` the suite's protocol, ``concepts`` ``(Y, k, c)`` (the decoder
rows for every class), ``transform(A, y)`` (the SAE's own non-negative sparse codes; ``y`` is
ignored) and ``reconstruct(U, y) = U W + b_dec`` (affine in the codes, as the host path needs).
``k`` of the ``c2mf`` params is the SAE's width (its number of latents, the dictionary size);
``c2mf.sae_active`` is its number of active latents per row (TopK, archetypal) or on average
(BatchTopK, Matryoshka), capped at the width; JumpReLU's sparsity is ``c2mf.sae_sparsity``.

The random-of-shape control of an SAE is the random frozen decoder of the methods' scoreboard: the
same fit with the random unit decoder of the initialisation kept, only the encoder and biases
trained (:func:`fit_sae_concepts` with ``random_decoder=True``; the archetypal SAE's atoms are
points of the data's hull and cannot be frozen, so its control is a TopK SAE of its width and k
with a random frozen decoder). Unlike the other methods'
random dictionaries it is refitted (its encoder must learn to use the random atoms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

if TYPE_CHECKING:  # the report imports this module without the SAEs' training stack
    from jaxconcepts.sae import SAE

__all__ = ["SAE_METHODS", "SAE_NAMES", "SAE_KEYS", "SAEConcepts", "fit_sae_concepts",
           "sae_settings", "sae_solver"]

#: readable names of the SAE methods (report rows, atlas titles)
SAE_NAMES = {"topk": "TopK SAE", "batchtopk": "BatchTopK SAE", "jumprelu": "JumpReLU SAE",
             "matryoshka": "Matryoshka SAE", "archetypal": "Archetypal SAE"}
#: ``jaxconcepts.sae.METHODS`` (spelled out: the report imports this module without the SAEs'
#: training stack; a test checks they agree)
SAE_METHODS = tuple(SAE_NAMES)
#: the params of ``c2mf`` that the SAE fits take
SAE_KEYS = ("sae_active", "sae_epochs", "sae_learning_rate", "sae_sparsity")


class SAEConcepts(eqx.Module):
    """A fitted SAE with the suite's protocol (module docstring); ``W``: the ``(k, c)`` unit
    decoder rows, ``n_dead``: latents that did not fire on the last pass over the train rows."""

    sae: SAE

    @property
    def W(self) -> jax.Array:
        return self.sae.W_dec

    @property
    def n_dead(self) -> int:
        return int(self.sae.n_dead)

    @property
    def concepts(self) -> jax.Array:
        return self.sae.concepts

    def transform(self, A, y=None) -> jax.Array:
        return self.sae.transform(jnp.asarray(A, jnp.float32))

    def reconstruct(self, U, y=None) -> jax.Array:
        return self.sae.reconstruct(U)


def sae_settings(method: str, k: int, *, sae_active, sae_epochs, sae_learning_rate,
                 sae_sparsity) -> dict:
    """The keyword arguments of ``fit_sae`` / ``fit_sae_streamed`` for width ``k``.

    Raises:
        ValueError: ``method`` is not an SAE, or a setting is out of range (names the param).
    """
    if method not in SAE_METHODS:
        raise ValueError(f"method={method!r} is not an SAE; valid choices: {list(SAE_METHODS)}")
    if int(sae_active) < 1 or int(sae_epochs) < 1 or not float(sae_learning_rate) > 0:
        raise ValueError(f"c2mf.sae_active={sae_active} and c2mf.sae_epochs={sae_epochs} should "
                         f"be >= 1 and c2mf.sae_learning_rate={sae_learning_rate} > 0")
    if not float(sae_sparsity) >= 0:
        raise ValueError(f"c2mf.sae_sparsity={sae_sparsity} should be >= 0")
    return {"method": method, "width": int(k), "k": min(int(sae_active), int(k)),
            "epochs": int(sae_epochs), "learning_rate": float(sae_learning_rate),
            "sparsity": float(sae_sparsity)}


def fit_sae_concepts(method: str, rows, k: int, *, key, n_classes: int | None = None,
                     init_rows: int, random_decoder: bool = False, **sae_kw) -> SAEConcepts:
    """Fit an SAE of width ``k`` on ``rows``: a streamed rows view (``view.stream("train",
    ...)``: :func:`~jaxconcepts.sae.fit_sae_streamed`, its classes from the view) or in-memory
    rows ``(n, c)`` (:func:`~jaxconcepts.sae.fit_sae`, ``n_classes`` needed); ``sae_kw``: the
    ``c2mf`` params of :data:`SAE_KEYS`. ``random_decoder``: the random frozen-decoder control."""
    from jaxconcepts.sae import fit_sae, fit_sae_streamed

    kw = sae_settings(method, k, **sae_kw)
    if random_decoder and method == "archetypal":  # its atoms come from the data's candidates
        kw["method"] = "topk"  # and cannot be frozen: chance is a TopK SAE of its width and k
    if isinstance(rows, np.ndarray | jax.Array):
        if n_classes is None:
            raise ValueError("n_classes=None: the in-memory SAE fit needs the number of classes")
        sae = fit_sae(np.asarray(rows, np.float32), key=key, init_rows=int(init_rows),
                      n_classes=int(n_classes), freeze_decoder=bool(random_decoder), **kw)
    else:
        seed = int(jax.random.randint(jax.random.fold_in(key, 31), (), 0, 2 ** 31 - 1))
        sae = fit_sae_streamed(rows, key=key, init_rows=int(init_rows), init_seed=seed,
                               freeze_decoder=bool(random_decoder), **kw)
    return SAEConcepts(sae)


def sae_solver(model: SAEConcepts) -> dict:
    """What the results record of a fitted SAE: its dead latents (not fired on the last pass
    over the train rows), the active latents per row it was fitted with, its epochs and the
    last epoch's loss (the unexplained share of the train rows' variance, plus the method's
    terms: AuxK, JumpReLU's L0 penalty)."""
    sae = model.sae
    hist = np.asarray(sae.loss_history, np.float64)
    return {"n_dead": int(sae.n_dead), "width": int(sae.config.width),
            "active": None if sae.config.method == "jumprelu" else int(sae.config.k),
            "epochs": int(hist.size),
            "final_loss": float(hist[-1]) if hist.size else None}
