"""Sparse autoencoders (SAEs): TopK, BatchTopK, JumpReLU and Matryoshka BatchTopK.

Notation as elsewhere: rows ``a ∈ R^c`` of ``A``, codes ``u ∈ R^d_{≥0}`` (``d`` latents, the
dictionary width), dictionary ``W = W_dec`` ``(d, c)`` with unit-norm rows, ``A ≈ U W + b_dec``.

**Encoder** (all methods, the standard recipe of Bricken et al. 2023 / Gao et al. 2024): the
decoder bias doubles as a pre-encoder bias, ``z = (a − b_dec) W_enc + b_enc`` ``(d,)``, and the
code is a sparse non-negative function of ``z``:

- **TopK** (Gao et al. 2024, Eq. 2): ``u = ReLU(TopK_k(z))`` — the ``k`` largest entries of each
  row kept, the rest zero; gradients flow through the kept entries.
- **BatchTopK** (Bussmann et al. 2024): during training the ``k · n`` largest positive entries of
  the whole batch of ``n`` rows are kept (rows share a budget of ``k`` on average). At inference a
  single threshold θ replaces the batch: ``u = z · 1[z > θ]``, θ being a moving average over
  training batches of the smallest kept activation (debiased, momentum
  :data:`~jaxconcepts.sae._train.THRESHOLD_MOMENTUM`).
- **JumpReLU** (Rajamanoharan et al. 2024): ``u_j = z_j · H(z_j − θ_j)`` with learnt thresholds
  ``θ = exp(log θ)`` and an L0 penalty ``λ Σ_j H(z_j − θ_j)``. ``H`` has no useful gradient, so
  both use the straight-through estimator of the paper (Eq. 11–12): the pseudo-derivative of
  ``H(z − θ)`` with respect to θ is ``−(1/ε) K((z − θ)/ε)`` with the rectangle kernel
  ``K(x) = 1[|x| < 1/2]`` and bandwidth ε.
- **Matryoshka BatchTopK** (Bussmann et al. 2025; Nabeshima 2024): BatchTopK codes, and every
  nested prefix ``u_{:m} W_{:m}`` (``m`` in ``prefixes``, the last being ``d``) must reconstruct
  on its own; the loss is the mean of the prefixes' losses, so early latents learn general
  directions and later ones refine them.

**Loss** (scale-free). Reconstruction is measured as ``‖a − â‖² / s²`` averaged over rows, with
``s² = mean_i ‖a_i − ā‖²`` the rows' total variance, fixed from the initialisation sample: the
loss is the fraction of variance left unexplained (``1 − R²``), whatever the units of the
activations. JumpReLU's λ is then "unexplained variance traded per active latent", and its
bandwidth ε and initial threshold are in units of ``s / √c`` (the rms of one coordinate).

**Dead latents.** A latent is dead once it has not fired on the last ``dead_after`` rows. The
AuxK loss of Gao et al. 2024 (§A.2) lets dead latents model the residual ``e = a − â``: with
``ê = TopK_{k_aux}(z restricted to dead latents) W``, ``L_aux = ‖e − ê‖² / s²`` (``e`` under
stop-gradient), added with weight ``aux_coef`` (the paper's 1/32). It is zero while none is dead.

**Unit-norm decoder.** After every optimiser step the decoder rows are rescaled to unit norm;
before the step the gradient's component parallel to each row is removed (Bricken et al. 2023),
so Adam's moments see only directions that survive the projection.

**Archetypal** (RA-SAE, Fel et al. 2025, Eq. 4): TopK codes, and the dictionary is not free but
``D = softmax(S) C + Λ``: ``C`` ``(m, c)`` fixed candidate points (k-means centroids of a data
sample, chosen at initialisation, never trained), ``S`` ``(d, m)`` trainable logits (each row of
``softmax(S)`` is a point of the simplex, so ``softmax(S) C`` lies in the convex hull of the
candidates) and a relaxation ``Λ`` ``(d, c)`` kept at ``‖Λ_i‖ ≤ δ · r`` after every step
(``r`` the candidates' rms norm; overcomplete projects Λ the same way). Like the other SAEs'
atoms, the decoder rows are ``D_i / ‖D_i‖`` (a per-atom positive scale: the conic hull, as the
paper's multiplier does, one scale per atom); the *direction* of every atom stays within the
relaxed hull. Atom ``i`` starts at candidate ``π(i)`` (weight 0.9, a key-drawn permutation).

**Random frozen decoder** (the scoreboard's sanity baseline): ``freeze_decoder=True`` in
the fits keeps the random unit decoder of the initialisation; only ``W_enc``, ``b_enc`` and
``b_dec`` (and JumpReLU's thresholds) are trained.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["METHODS", "SAE", "Params", "SAEConfig", "decoder", "encode_train", "init_params",
           "loss_and_grad", "project_relax", "sae_loss", "thresholds", "top_k"]

METHODS = ("topk", "batchtopk", "jumprelu", "matryoshka", "archetypal")


@dataclasses.dataclass(frozen=True)
class SAEConfig:
    """Static settings of one SAE (hashable: a jit static argument).

    Attributes:
        method: one of :data:`METHODS`.
        width: ``d``, the number of latents.
        k: active latents per row (TopK) or on average per row (BatchTopK, Matryoshka); unused by
            JumpReLU.
        sparsity: JumpReLU's L0 coefficient λ (fraction of variance per active latent).
        bandwidth: JumpReLU's STE bandwidth ε, in units of ``s / √c``.
        prefixes: Matryoshka's nested widths, increasing, the last equal to ``width``.
        aux_k: latents of the AuxK reconstruction (0: no AuxK loss).
        aux_coef: weight of the AuxK loss.
        dead_after: rows without firing after which a latent counts as dead.
        var: ``s²``, the total variance of the rows (from the init sample).
        channels: ``c``.
        candidates: archetypal: ``m``, the number of candidate points (0 for the others).
        delta: archetypal: the relaxation bound δ (units of the candidates' rms norm).
        topk_bins: TopK / archetypal training: 0 for the exact top-k; else the binned
            approximate top-k of :func:`approx_top_k` with this many bins (inference stays exact).
        threshold_scale: JumpReLU: the thresholds are ``θ = exp(threshold_scale · φ)``, ``φ`` the
            trained parameter (``Params.log_theta``). Adam moves ``φ`` by about the learning rate
            a step, so a scale above 1 lets ``θ`` move that many times faster in log space (the
            L0 term's gradient reaches only ``θ``). 1 (the default) trains ``log θ`` itself.
        logit_scale: archetypal: the weights are ``softmax(logit_scale · S)`` (Adam moves each
            logit by about the learning rate per step; the scale lets the weights move as fast
            as a free decoder's entries).
    """

    method: str
    width: int
    k: int
    sparsity: float
    bandwidth: float
    prefixes: tuple[int, ...]
    aux_k: int
    aux_coef: float
    dead_after: int
    var: float
    channels: int
    candidates: int = 0
    delta: float = 0.0
    logit_scale: float = 1.0
    topk_bins: int = 0
    threshold_scale: float = 1.0


class Params(NamedTuple):
    """Trainable arrays: ``W_enc (c, d)``, ``b_enc (d,)``, ``W_dec (d, c)``, ``b_dec (c,)``,
    ``log_theta (d,)`` (JumpReLU's thresholds; unused by the others); archetypal only (else
    ``(0, 0)``): ``logits (d, m)``, ``relax (d, c)`` and the fixed ``cands (m, c)`` (under
    stop-gradient: Adam never moves them). For the archetypal SAE ``W_dec`` is not trained but
    kept equal to :func:`decoder` after each step, and ``dnorm (d,)`` (else ``(0,)``) to the
    norms of its rows before normalisation (neither gets a gradient)."""

    W_enc: jax.Array
    b_enc: jax.Array
    W_dec: jax.Array
    b_dec: jax.Array
    log_theta: jax.Array
    logits: jax.Array = jnp.zeros((0, 0), jnp.float32)
    relax: jax.Array = jnp.zeros((0, 0), jnp.float32)
    cands: jax.Array = jnp.zeros((0, 0), jnp.float32)
    dnorm: jax.Array = jnp.zeros((0,), jnp.float32)


def _unit_rows_norm(W):
    """``W``'s rows over their norms (floored at 1e-12), and the norms ``(d,)``."""
    nrm = jnp.linalg.norm(W, axis=1, keepdims=True)
    return W / jnp.maximum(nrm, 1e-12), nrm[:, 0]


def _unit_rows(W):
    return _unit_rows_norm(W)[0]


def _arch_raw(p: Params, cfg: SAEConfig):
    """Archetypal: ``softmax(S) C + Λ`` ``(d, c)``, before normalisation."""
    weights = jax.nn.softmax(cfg.logit_scale * p.logits, axis=1)
    return weights @ lax.stop_gradient(p.cands) + p.relax


def decoder(p: Params, cfg: SAEConfig):
    """The unit decoder rows ``(d, c)``: ``W_dec``, or the archetypal ``unit(softmax(S) C + Λ)``."""
    if cfg.method != "archetypal":
        return p.W_dec
    return _unit_rows(_arch_raw(p, cfg))


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _arch_stored(W, dnorm, logits, relax, cands, scale):
    """The archetypal decoder :func:`decoder` as stored after the last step (``W = W_dec``, its
    rows' norms ``dnorm`` before normalisation), differentiable in ``logits`` and ``relax``: the
    same value and gradient as differentiating :func:`decoder`, without its forward product
    ``softmax(S) C`` (:func:`project_relax` computed it after the last step, from the same
    ``S`` and ``Λ``); the VJP recomputes ``softmax(S)`` and has the one product ``G Cᵀ``."""
    return W


def _arch_stored_fwd(W, dnorm, logits, relax, cands, scale):
    return W, (W, dnorm, logits, cands)


def _arch_stored_bwd(scale, res, g):
    W, dnorm, logits, cands = res
    r = jnp.maximum(dnorm, 1e-12)[:, None]
    # the unit rows' VJP; below the floor the norm is a constant 1e-12
    dD = (g - W * jnp.sum(g * W, axis=1, keepdims=True) * (dnorm > 1e-12)[:, None]) / r
    weights = jax.nn.softmax(scale * logits, axis=1)
    dw = dD @ cands.T
    dlogits = scale * weights * (dw - jnp.sum(dw * weights, axis=1, keepdims=True))
    return None, None, dlogits, dD, None


_arch_stored.defvjp(_arch_stored_fwd, _arch_stored_bwd)


def _loss_decoder(p: Params, cfg: SAEConfig):
    """:func:`decoder` for the loss: the archetypal one from the stored ``W_dec``
    (:func:`_arch_stored`)."""
    if cfg.method != "archetypal":
        return p.W_dec
    return _arch_stored(p.W_dec, p.dnorm, p.logits, p.relax, p.cands, cfg.logit_scale)


def relax_bound(p: Params, cfg: SAEConfig):
    """``δ · r``: the bound on each ``‖Λ_i‖`` (r = the candidates' rms norm)."""
    return cfg.delta * jnp.sqrt(jnp.mean(jnp.sum(p.cands ** 2, axis=1)))


def _with_decoder(p: Params, cfg: SAEConfig) -> Params:
    """Archetypal: ``W_dec`` ← :func:`decoder` and ``dnorm`` ← its rows' norms before
    normalisation."""
    W, dnorm = _unit_rows_norm(_arch_raw(p, cfg))
    return p._replace(W_dec=W, dnorm=dnorm)


def project_relax(p: Params, cfg: SAEConfig) -> Params:
    """Archetypal: ``Λ_i ← Λ_i · min(1, δ r / ‖Λ_i‖)`` and ``W_dec`` ← :func:`decoder`."""
    if cfg.method != "archetypal":
        return p
    nrm = jnp.linalg.norm(p.relax, axis=1, keepdims=True)
    relax = p.relax * jnp.minimum(1.0, relax_bound(p, cfg) / jnp.maximum(nrm, 1e-12))
    return _with_decoder(p._replace(relax=relax), cfg)


def init_params(key, cfg: SAEConfig, sample: np.ndarray, *, decoder_init=None,
                candidates=None) -> Params:
    """Random unit decoder rows (or the unit rows of ``decoder_init`` ``(d, c)``), tied encoder
    ``W_enc = W_decᵀ`` (Gao et al. 2024 §2.3), zero encoder bias, ``b_dec`` = the sample's mean;
    JumpReLU thresholds at ``0.1 s / √c``. Archetypal: ``candidates`` ``(m, c)`` (required), atom
    ``i`` at 0.9 on candidate ``π(i)`` (``π`` drawn by ``key``), ``Λ = 0``.

    JumpReLU's encoder is the tied one times ``min(1, c / d)``: its codes are dense at the start
    (about half the latents open), and with ``d > c`` random unit atoms ``W_decᵀ W_dec ≈ (d / c)
    I``, so the tied encoder's first reconstruction is about ``d / (2c)`` times the centred row
    (4 at ``d = 2048``, ``c = 256``: R² near −8) and Adam spends its first epochs shrinking it.
    Scaled, the first reconstruction is of the rows' own size. With ``d ≤ c`` the atoms are
    nearly orthogonal and nothing is scaled; the k-sparse methods open ``k ≪ c`` latents, so
    their tied encoder is not scaled either."""
    c = sample.shape[1]
    if decoder_init is not None:
        W_dec = _unit_rows(jnp.asarray(decoder_init, jnp.float32))
        if W_dec.shape != (cfg.width, c):
            raise ValueError(f"decoder_init should be (width={cfg.width}, c={c}), got "
                             f"{W_dec.shape}")
    else:
        W_dec = _unit_rows(jax.random.normal(key, (cfg.width, c), jnp.float32))
    unit = float(np.sqrt(cfg.var / c))
    p = Params(W_enc=W_dec.T, b_enc=jnp.zeros((cfg.width,), jnp.float32), W_dec=W_dec,
               b_dec=jnp.asarray(sample.mean(0), jnp.float32),
               log_theta=jnp.full((cfg.width,), np.log(0.1 * unit) / cfg.threshold_scale,
                                  jnp.float32),
               # fresh empty arrays: the fits donate the state, so no shared default object
               logits=jnp.zeros((0, 0), jnp.float32), relax=jnp.zeros((0, 0), jnp.float32),
               cands=jnp.zeros((0, 0), jnp.float32), dnorm=jnp.zeros((0,), jnp.float32))
    if cfg.method == "archetypal":
        C = jnp.asarray(candidates, jnp.float32)
        m = C.shape[0]
        pick = jax.random.permutation(key, max(m, cfg.width))[:cfg.width] % m
        hot = np.log(0.9 * max(m - 1, 1) / 0.1) if m > 1 else 0.0
        logits = hot / cfg.logit_scale * jax.nn.one_hot(pick, m, dtype=jnp.float32)
        p = p._replace(logits=logits, relax=jnp.zeros((cfg.width, c), jnp.float32), cands=C)
        p = _with_decoder(p, cfg)
        p = p._replace(W_enc=p.W_dec.T)
    if cfg.method == "jumprelu":
        p = p._replace(W_enc=p.W_enc * min(1.0, c / cfg.width))
    return p


def thresholds(p: Params, cfg: SAEConfig):
    """JumpReLU's thresholds ``θ = exp(threshold_scale · φ)`` ``(d,)``, in the σ-scaled units
    of training."""
    return jnp.exp(cfg.threshold_scale * p.log_theta)


def preactivations(p: Params, A):
    """``z = (A − b_dec) W_enc + b_enc`` ``(n, d)``."""
    return _affine(A, p.b_dec, p.W_enc, p.b_enc)


@jax.custom_vjp
def _affine(A, b, W, c):
    """``(A − b) W + c`` with the gradient for ``b`` summed before the product:
    ``−(Σ_rows g) Wᵀ`` (``d c`` multiply-adds), where differentiating the expression gives
    ``−Σ_rows (g Wᵀ)``, which XLA computes as a dense ``n d c`` product and then sums (the
    dense-code methods, JumpReLU and Matryoshka, differentiate it every step). Same value, bit
    for bit; the gradients are the same sums in another order."""
    return (A - b) @ W + c


def _affine_fwd(A, b, W, c):
    x = A - b
    return x @ W + c, (x, W)


def _affine_bwd(res, g):
    x, W = res
    s = jnp.sum(g, axis=0)
    return g @ W.T, -(s @ W.T), x.T @ g, s  # A's cotangent: unused by the fits, XLA drops it


_affine.defvjp(_affine_fwd, _affine_bwd)


def _bin_size(d: int, k: int) -> int:
    """The bin size of :func:`top_k`'s two stages for rows of ``d`` and ``k`` kept, or 0 where
    the one-stage ``lax.top_k`` reads fewer entries (``k s + d / s`` of ``d``)."""
    for s in (8, 4, 16):
        if d % s == 0 and d // s >= k and k * s + d // s <= d // 2:
            return s
    return 0


def top_k(z, k: int):
    """Each row's ``k`` largest entries of ``z`` ``(n, d)``, ``(values, indices)`` in decreasing
    order: ``lax.top_k``'s values, exactly, and its indices but among equal values, in two
    stages that read fewer entries. The row is cut into bins of ``s`` (:func:`_bin_size`); the
    ``k`` bins with the largest maxima hold every one of the row's top ``k`` (an entry of
    another bin is beaten by those ``k`` maxima), so the top ``k`` of their ``k s`` entries is
    the row's. (XLA's CPU top-k's cost grows with the entries it reads: on 1024 × 2048,
    k = 16, the two stages read 384 entries a row instead of 2048; the README's speed section
    has the step times measured.) The
    gradient flows to the returned entries, as ``lax.top_k``'s."""
    n, d = z.shape
    s = _bin_size(d, k)
    if not s:
        return lax.top_k(z, k)
    zb = lax.stop_gradient(z).reshape(n, d // s, s)
    _, ib = lax.top_k(zb.max(axis=2), k)
    _, j = lax.top_k(jnp.take_along_axis(zb, ib[:, :, None], axis=1).reshape(n, k * s), k)
    idx = jnp.take_along_axis(ib, j // s, axis=1) * s + j % s
    return jnp.take_along_axis(z, idx, axis=1), idx


def _topk_rows(z, k):
    """ReLU of each row's ``k`` largest entries, the others zero (gradient through the kept)."""
    vals, idx = top_k(z, k)
    rows = jnp.arange(z.shape[0])[:, None]
    return jnp.zeros_like(z).at[rows, idx].set(jax.nn.relu(vals))


def approx_top_k(z, k: int, bins: int):
    """Binned approximate top-k of each row (the TPU ``approx_max_k`` recipe, on any backend):
    entry ``j`` falls in bin ``j mod bins``; each bin keeps its maximum and the ``k`` largest
    bin maxima are returned as ``(values, indices)``. Exact unless two of a row's true top-k share
    a bin (expected recall about ``1 − (k − 1) / (2 bins)``: 0.977 measured for k = 16, 256 bins of
    2048); every returned entry is a true entry of ``z`` and the gradient flows to it.
    ``bins`` must divide the row length."""
    n, d = z.shape
    zb = lax.stop_gradient(z).reshape(n, d // bins, bins)
    _, ib = lax.top_k(zb.max(axis=1), k)
    idx = jnp.take_along_axis(zb.argmax(axis=1), ib, axis=1) * bins + ib
    return jnp.take_along_axis(z, idx, axis=1), idx


def _sparse_pays(k: float, d: int) -> bool:
    """Whether ``k`` chosen latents a row (on average) of ``d`` are few enough for gathers /
    scatter-adds of ``n k`` rows to beat dense ``n d c`` products: from ``d / k`` ≈ 96 up
    (measured on the loss's gradient, TopK, all sparse against all dense: sparse won at
    ``d / k`` = 128 and lost at 64 and 32)."""
    return 96 * k <= d


def _codes(vals, rows, cols, n, d):
    """Dense ``(n, d)`` codes with ``vals (m,)`` at the distinct ``(rows, cols)``."""
    return jnp.zeros((n, d), vals.dtype).at[rows, cols].add(vals)


def _decode_chosen(vals, rows, cols, W, n, *, per_row: bool):
    """``â_i = Σ_{e: rows_e = i} vals_e W[cols_e]`` ``(n, c)`` for ``m`` chosen entries: a gather
    of ``m`` rows of ``W`` when that pays (:func:`_sparse_pays`), summed per row (``per_row``:
    the entries are ``k`` per row in row order, as :func:`_flat` gives, a reduction) or
    scatter-added; else the dense product of the scattered codes."""
    if _sparse_pays(vals.shape[0] / n, W.shape[0]):
        if per_row:
            return jnp.einsum("nk,nkc->nc", vals.reshape(n, -1),
                              W[cols].reshape(n, -1, W.shape[1]))
        return jnp.zeros((n, W.shape[1]), vals.dtype).at[rows].add(vals[:, None] * W[cols])
    return _codes(vals, rows, cols, n, W.shape[0]) @ W


@jax.custom_vjp
def _chosen_pre(z, A, b_dec, W_enc, b_enc, rows, cols):
    """The chosen pre-activations ``z[rows, cols]`` ``(m,)`` of ``z = (A − b_dec) W_enc + b_enc``
    (``z`` given, computed once; the entries distinct), differentiable in ``A, b_dec, W_enc,
    b_enc`` with a sparse VJP: the cotangent ``g`` ``(m,)`` lives on ``m`` entries of ``z``, so
    ``∂W_enc[:, j] = Σ_{e: cols_e = j} g_e (a_{rows_e} − b_dec)`` is a scatter-add of ``m``
    rows and ``∂b_dec = −W_enc ∂b_enc`` a matrix-vector product, where differentiating the dense
    ``z`` costs two ``n d c`` products (``(A − b_dec)ᵀ dz`` and ``dz W_encᵀ``). Where ``m`` is
    not few (:func:`_sparse_pays`) the VJP is the one dense product ``(A − b_dec)ᵀ dz``. The
    same gradient up to the order of float sums; ``z`` itself gets none (pass it under
    ``stop_gradient``)."""
    return z[rows, cols]


def _chosen_pre_fwd(z, A, b_dec, W_enc, b_enc, rows, cols):
    return _chosen_pre(z, A, b_dec, W_enc, b_enc, rows, cols), (A, b_dec, W_enc, rows, cols)


def _chosen_pre_bwd(res, g):
    A, b_dec, W_enc, rows, cols = res
    (n, c), d = A.shape, W_enc.shape[1]
    if _sparse_pays(g.shape[0] / n, d):
        db_enc = jnp.zeros((d,), g.dtype).at[cols].add(g)
        dW_enc = jnp.zeros((d, c), g.dtype).at[cols].add(g[:, None] * (A - b_dec)[rows]).T
        # dead code unless A is differentiated
        dA = jnp.zeros((n, c), g.dtype).at[rows].add(g[:, None] * W_enc.T[cols])
    else:
        dz = _codes(g, rows, cols, n, d)
        db_enc = jnp.sum(dz, axis=0)
        dW_enc = (A - b_dec).T @ dz
        dA = dz @ W_enc.T
    return None, dA, -(W_enc @ db_enc), dW_enc, db_enc, None, None


_chosen_pre.defvjp(_chosen_pre_fwd, _chosen_pre_bwd)


def _flat(idx):
    """``(rows, cols)`` ``(n k,)`` of per-row indices ``idx (n, k)``."""
    return jnp.repeat(jnp.arange(idx.shape[0]), idx.shape[1]), idx.reshape(-1)


def _ordered_bits(v):
    """``uint32`` keys in the order of the float32 values ``v`` (NaN aside)."""
    b = lax.bitcast_convert_type(v, jnp.uint32)
    return jnp.where(b >> 31 == 1, ~b, b | jnp.uint32(0x80000000))


def _from_ordered_bits(u):
    b = jnp.where(u >> 31 == 1, u ^ jnp.uint32(0x80000000), ~u)
    return lax.bitcast_convert_type(b, jnp.float32)


def _kth_largest(v, n):
    """The ``n``-th largest entry of ``v`` (any shape, ``1 ≤ n ≤ v.size``), exactly: its bits
    one at a time from the top, each by one count of the entries at least as large (32 fused
    reductions; XLA's CPU top-k of a long flat array keeps a heap of ``n``)."""
    u = _ordered_bits(v).reshape(-1)
    t = jnp.uint32(0)
    for bit in range(31, -1, -1):
        cand = t | jnp.uint32(1 << bit)
        t = jnp.where(jnp.sum(u >= cand) >= n, cand, t)
    return _from_ordered_bits(t)


def _compact(sel, size: int):
    """The positions of the first ``size`` true entries of the flat bool ``sel``, in order
    (slots past their count hold 0), by one cumulative sum and one scatter."""
    pos = jnp.cumsum(sel, dtype=jnp.int32) - 1
    return jnp.zeros((size,), jnp.int32).at[jnp.where(sel, pos, size)].set(
        jnp.arange(sel.shape[0], dtype=jnp.int32), mode="drop")


def _batch_top(zm, budget: int, n_keep):
    """The ``n_keep`` largest entries of ``zm`` ``(n, d)`` (``1 ≤ n_keep ≤ budget ≤ n d``) as
    ``budget`` slots ``(rows, cols, keep, thr)`` in row order: ``keep`` marks the slots holding
    them (the others repeat some entry and must count as zero), ``thr`` is the ``n_keep``-th
    largest value.

    Exact, with no top-k: each row is cut into bins of ``s`` (the largest of 8, 4, 2, 1 dividing
    ``d`` with at least ``budget / n`` bins a row); the ``n_keep`` bins with the largest maxima
    hold every one of the ``n_keep`` largest entries (an entry of another bin is beaten by
    those ``n_keep`` maxima), so ``thr`` is the ``n_keep``-th largest of their ``n_keep · s``
    entries. Both selections are a :func:`_kth_largest` (on ``n d / s`` bin maxima, then on the
    chosen bins' entries) and a :func:`_compact`. Among entries equal to a threshold the first
    in row order are kept. (XLA's CPU top-k keeps a heap of its ``k`` per row, which costs
    most for a large ``k``: a per-row top-``k`` and then a flat one over the batch is what this
    replaced; the README's speed section has the step times measured.)"""
    n, d = zm.shape
    s = next(s for s in (8, 4, 2, 1) if d % s == 0 and d // s * n >= budget)
    zb = zm.reshape(n * (d // s), s)
    m = zb.max(axis=1)
    sel_bins = m >= _kth_largest(m, n_keep)
    bins = _compact(sel_bins, budget)
    got = jnp.minimum(jnp.sum(sel_bins), budget)
    cand = jnp.where((jnp.arange(budget) < got)[:, None], zb[bins], -jnp.inf)
    thr = _kth_largest(cand, n_keep)
    sel = (cand >= thr).reshape(-1)
    e = _compact(sel, budget)
    b = bins[e // s]
    rows, cols = b // (d // s), b % (d // s) * s + e % s
    keep = (jnp.arange(budget) < jnp.minimum(jnp.sum(sel), n_keep)) & (zm[rows, cols] > 0)
    return rows, cols, keep, thr


def _chosen_train(p: Params, cfg: SAEConfig, A, mask, z):
    """Training codes as chosen entries ``(vals, rows, cols)`` and the batch threshold:
    TopK / archetypal, each row's top ``k``; BatchTopK, the ``k · n_valid`` largest positive
    entries of the valid rows (:func:`_batch_threshold`'s, bar exact ties at the threshold)."""
    n = A.shape[0]
    if cfg.method != "batchtopk":
        rows, cols = _flat(_train_top_k(z, cfg)[1])
        vals = jax.nn.relu(_chosen_pre(z, A, p.b_dec, p.W_enc, p.b_enc, rows, cols))
        return vals, rows, cols, jnp.float32(0.0)
    n_keep = cfg.k * jnp.sum(mask)
    rows, cols, keep, thr = _batch_top(jnp.where(mask[:, None], z, -jnp.inf), cfg.k * n,
                                       jnp.maximum(n_keep, 1))
    keep = keep & (n_keep > 0)
    vals = jnp.where(keep, _chosen_pre(z, A, p.b_dec, p.W_enc, p.b_enc, rows, cols), 0.0)
    return vals, rows, cols, jnp.maximum(jnp.where(n_keep > 0, thr, 0.0), 0.0)


def _train_top_k(z, cfg):
    if cfg.topk_bins:
        return approx_top_k(z, cfg.k, cfg.topk_bins)
    return top_k(z, cfg.k)


def _batch_threshold(z, mask, k):
    """The value of the ``k · n_valid``-th largest entry of the valid rows (padding rows never
    win; :func:`_batch_top`'s), and the mask of kept entries: positive and at least that
    value."""
    zm = jnp.where(mask[:, None], z, -jnp.inf)
    n_keep = k * jnp.sum(mask)
    thr = _batch_top(zm, k * z.shape[0], jnp.maximum(n_keep, 1))[3]
    keep = (zm >= thr) & (zm > 0) & (n_keep > 0)
    return thr, keep


@jax.custom_vjp
def _heaviside(x, theta, eps):
    return (x > theta).astype(x.dtype)


def _heaviside_fwd(x, theta, eps):
    return _heaviside(x, theta, eps), (x, theta, eps)


def _heaviside_bwd(res, g):
    x, theta, eps = res
    kern = (jnp.abs((x - theta) / eps) < 0.5).astype(x.dtype)
    return jnp.zeros_like(x), jnp.sum(-(g * kern) / eps, axis=0), jnp.zeros_like(eps)


_heaviside.defvjp(_heaviside_fwd, _heaviside_bwd)


@jax.custom_vjp
def _jumprelu(x, theta, eps):
    return x * (x > theta)


def _jumprelu_fwd(x, theta, eps):
    return _jumprelu(x, theta, eps), (x, theta, eps)


def _jumprelu_bwd(res, g):
    x, theta, eps = res
    gate = (x > theta).astype(x.dtype)
    kern = (jnp.abs((x - theta) / eps) < 0.5).astype(x.dtype)
    return g * gate, jnp.sum(-(theta / eps) * kern * g, axis=0), jnp.zeros_like(eps)


_jumprelu.defvjp(_jumprelu_fwd, _jumprelu_bwd)


def encode_train(p: Params, cfg: SAEConfig, A, mask):
    """Training-time codes ``(n, d)``, the auxiliary L0 term (JumpReLU) and the smallest kept
    activation of the batch (BatchTopK / Matryoshka; else 0)."""
    z = preactivations(p, A)
    zero = jnp.float32(0.0)
    if cfg.method in ("topk", "archetypal"):
        return _topk_rows(z, cfg.k), zero, zero
    if cfg.method in ("batchtopk", "matryoshka"):
        thr, keep = _batch_threshold(z, mask, cfg.k)
        return jnp.where(keep, z, 0.0), zero, jnp.maximum(thr, 0.0)
    theta = thresholds(p, cfg)
    eps = jnp.float32(cfg.bandwidth * np.sqrt(cfg.var / cfg.channels))
    U = _jumprelu(z, theta, eps)
    l0 = jnp.sum(_heaviside(z, theta, eps), axis=1)
    return U, l0, zero


def _sq_err(A, R):
    return jnp.sum((A - R) ** 2, axis=1)


def _fired(U, mask):
    """``(d,)`` bool: latents active on some valid row of dense codes ``U``."""
    return jnp.any((U > 0) & mask[:, None], axis=0)


def _has_aux(cfg: SAEConfig) -> bool:
    return cfg.aux_k > 0 and cfg.method != "jumprelu"


def _main_loss(p: Params, cfg: SAEConfig, A, mask):
    """:func:`sae_loss` without its AuxK term: ``(loss, (fired, terms, R, z))``, ``R`` the
    reconstruction and ``z`` the pre-activations under stop-gradient (None where the method
    does not compute them apart)."""
    W = _loss_decoder(p, cfg)
    w = mask.astype(A.dtype) / jnp.maximum(jnp.sum(mask), 1)
    zero = jnp.float32(0.0)
    z = None
    if cfg.method in ("topk", "archetypal", "batchtopk"):
        z = lax.stop_gradient(preactivations(p, A))
        vals, rows, cols, thr = _chosen_train(p, cfg, A, mask, z)
        R = _decode_chosen(vals, rows, cols, W, A.shape[0],
                           per_row=cfg.method != "batchtopk") + p.b_dec
        recon = jnp.sum(w * _sq_err(A, R)) / cfg.var
        fired = jnp.zeros((cfg.width,), bool).at[cols].max((vals > 0) & mask[rows])
        l0 = zero
    else:
        U, l0, thr = encode_train(p, cfg, A, mask)
        fired = _fired(U, mask)
        if cfg.method == "matryoshka":
            recon = 0.0
            for m in cfg.prefixes:
                recon += jnp.sum(w * _sq_err(A, U[:, :m] @ W[:m] + p.b_dec))
            recon = recon / (len(cfg.prefixes) * cfg.var)
        R = U @ W + p.b_dec
        if cfg.method != "matryoshka":
            recon = jnp.sum(w * _sq_err(A, R)) / cfg.var
    l0m = jnp.sum(w * l0)
    loss = recon + cfg.sparsity * l0m if cfg.method == "jumprelu" else recon
    return loss, (fired, {"recon": recon, "aux": zero, "l0": l0m, "thr": thr}, R, z)


def _aux_loss(p: Params, cfg: SAEConfig, A, mask, dead, e, z):
    """The AuxK term (module docstring): dead latents' top ``aux_k`` codes modelling the
    residual ``e`` (under stop-gradient), on the pre-activations ``z`` (computed if None)."""
    W = _loss_decoder(p, cfg)
    w = mask.astype(A.dtype) / jnp.maximum(jnp.sum(mask), 1)
    z = lax.stop_gradient(preactivations(p, A)) if z is None else z
    ka = min(cfg.aux_k, cfg.width)
    rows, cols = _flat(top_k(jnp.where(dead[None, :], z, -jnp.inf), ka)[1])
    # fewer than ka dead: the others chosen (at -inf) count as zero
    v = jnp.where(dead[cols], jax.nn.relu(_chosen_pre(z, A, p.b_dec, p.W_enc, p.b_enc,
                                                      rows, cols)), 0.0)
    e_hat = _decode_chosen(v, rows, cols, W, A.shape[0], per_row=True)
    return jnp.sum(w * _sq_err(e, e_hat)) / cfg.var


def sae_loss(p: Params, cfg: SAEConfig, A, mask, dead):
    """Mean over valid rows of the (normalised) reconstruction loss plus the method's terms.

    TopK, archetypal and BatchTopK codes are kept sparse, the chosen entries' values and
    ``(row, latent)`` indices (:func:`_chosen_train`): the decoder is a gather of the chosen
    rows of ``W``, ``â = Σ_j u_j W[idx_j] + b_dec`` (``n k c`` multiply-adds instead of the dense
    ``n d c``; the same sum, so the same fit up to float rounding), and the encoder's gradient
    is the sparse VJP of :func:`_chosen_pre` (a scatter-add of ``n k`` rows instead of two dense
    ``n d c`` products), each where ``k`` is few enough to pay (:func:`_sparse_pays`; else
    dense products of the same codes). The AuxK term is computed only on steps where some
    latent is dead (``lax.cond``), on the same pre-activations, the same way. (The training
    step takes the value and gradient from :func:`loss_and_grad`: the same numbers.)

    Archetypal: the decoder's value is the stored ``W_dec`` (its gradient that of
    :func:`decoder`, :func:`_arch_stored`), so ``p`` must hold the ``W_dec`` and ``dnorm`` of its
    ``logits`` and ``relax``, as :func:`init_params` and :func:`project_relax` leave them.

    Args:
        A: ``(n, c)`` rows; mask: ``(n,)`` valid rows; dead: ``(d,)`` bool, dead latents.

    Returns:
        ``(loss, (fired, terms))``: ``fired`` ``(d,)`` bool, the latents active on some valid
        row; terms = ``{"recon", "aux", "l0", "thr"}``.
    """
    loss, (fired, terms, R, z) = _main_loss(p, cfg, A, mask)
    if _has_aux(cfg):
        e = lax.stop_gradient(A - R)
        aux = lax.cond(jnp.any(dead), lambda p, e, z: _aux_loss(p, cfg, A, mask, dead, e, z),
                       lambda p, e, z: jnp.float32(0.0), p, e, z)
        loss = loss + cfg.aux_coef * aux
        terms = {**terms, "aux": aux}
    return loss, (fired, terms)


def loss_and_grad(p: Params, cfg: SAEConfig, A, mask, dead):
    """``jax.value_and_grad(sae_loss, has_aux=True)(p, cfg, A, mask, dead)``, with the AuxK
    term's value and gradient taken inside one ``lax.cond`` on steps where some latent is dead.
    Differentiating :func:`sae_loss`'s ``cond`` carries the AuxK branch's residuals through
    every step (zeros on the steps where no latent is dead); here a step with none dead runs
    the main term alone."""
    (loss, (fired, terms, R, z)), g = jax.value_and_grad(_main_loss, has_aux=True)(
        p, cfg, A, mask)
    if not _has_aux(cfg):
        return (loss, (fired, terms)), g
    e = lax.stop_gradient(A - R)

    def with_aux(g, e, z):
        aux, ga = jax.value_and_grad(_aux_loss)(p, cfg, A, mask, dead, e, z)
        return jax.tree.map(lambda a, b: a + cfg.aux_coef * b, g, ga), aux

    g, aux = lax.cond(jnp.any(dead), with_aux, lambda g, e, z: (g, jnp.float32(0.0)), g, e, z)
    return (loss + cfg.aux_coef * aux, (fired, {**terms, "aux": aux})), g


class SAE(eqx.Module):
    """A fitted sparse autoencoder (a ``ConceptDecomposition``; class-agnostic: ``y`` ignored).

    Attributes:
        W_enc, b_enc, W_dec, b_dec: encoder ``(c, d)``, ``(d,)``; decoder ``(d, c)`` unit rows,
            ``(c,)``.
        theta: ``(d,)`` inference thresholds (JumpReLU: learnt; BatchTopK / Matryoshka: the
            running batch threshold, the same for every latent; TopK, archetypal: unused zeros).
        candidates: archetypal: the candidate points ``C`` ``(m, c)`` (data units) and
            weights: ``softmax(S)`` ``(d, m)``; ``None`` for the others.
        config: the :class:`SAEConfig` (static).
        n_classes: Y, the number of classes ``concepts`` is broadcast to (static).
        loss_history: mean training loss per epoch; dead_history: dead latents after each epoch.
        n_dead: dead latents at the end of training (not fired on the last ``dead_after`` rows).
    """

    W_enc: jax.Array
    b_enc: jax.Array
    W_dec: jax.Array
    b_dec: jax.Array
    theta: jax.Array
    config: SAEConfig = eqx.field(static=True)
    n_classes: int = eqx.field(static=True, default=1)
    loss_history: np.ndarray | None = None
    dead_history: np.ndarray | None = None
    n_dead: int = eqx.field(static=True, default=0)
    candidates: jax.Array | None = None
    weights: jax.Array | None = None

    @property
    def concepts(self) -> jax.Array:
        """``(Y, d, c)``: the one dictionary, shared by every class."""
        return jnp.broadcast_to(self.W_dec, (self.n_classes, *self.W_dec.shape))

    def encode(self, A) -> jax.Array:
        """Inference codes ``(n, d)`` of rows ``A`` ``(n, c)``."""
        z = (jnp.asarray(A, jnp.float32) - self.b_dec) @ self.W_enc + self.b_enc
        if self.config.method in ("topk", "archetypal"):
            return _topk_rows(z, self.config.k)
        return jnp.where(z > jnp.maximum(self.theta, 0.0), z, 0.0)

    def transform(self, A, y=None) -> jax.Array:
        """Codes ``(n, d)`` (``y`` is accepted for the protocol and ignored)."""
        return self.encode(A)

    def reconstruct(self, U, y=None) -> jax.Array:
        """``U W_dec + b_dec`` ``(n, c)``."""
        return jnp.asarray(U) @ self.W_dec + self.b_dec
