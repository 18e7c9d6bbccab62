"""Training SAEs with optax: one step function, in memory (:func:`fit_sae`) or streamed from the
activation store over a device mesh and processes (:func:`fit_sae_streamed`).

**Units.** Training runs on ``A / σ`` with ``σ² = s² / c`` (``s²`` the rows' total variance,
from the initialisation sample): every coordinate has unit variance on average, so Adam's
learning rate, JumpReLU's bandwidth and its initial threshold mean the same on any backbone. The
fitted :class:`~jaxconcepts.sae._models.SAE` is mapped back to the data's units
(``b_dec, b_enc, θ`` times σ; ``W_enc``, ``W_dec`` unchanged), so it encodes raw activations.

**Step** (:func:`train_step`): the loss of :func:`~jaxconcepts.sae._models.sae_loss` averaged over
the batch's valid rows; its gradient, the decoder gradient's component parallel to each row
removed; one Adam update; decoder rows back to unit norm; for each latent, rows since it last
fired (dead latents feed AuxK); BatchTopK's running threshold.

**Data parallel.** The streamed fit places each batch sharded over the mesh's ``data`` axis
(:func:`~jaxconcepts.mesh.put_rows`) and the state replicated; the step is one jitted
program whose loss is a global mean over the sharded batch, so XLA all-reduces the gradient:
the update is that of the whole batch whatever the number of devices or processes. BatchTopK's
batch budget is likewise global.

**Order.** :func:`fit_sae` shuffles rows each epoch (``shuffle=True``, by ``key``) and runs an
epoch as one ``lax.scan`` of the step; the streamed fit sees the store's batches in manifest
order every epoch (whole images; write the store shuffled). With ``shuffle=False`` and a batch
of the store's rows per batch, both give the same updates.

**Errors.** Settings are checked before anything runs (ValueError naming the valid range); a
non-finite loss raises ``FloatingPointError`` naming the method, its settings and the epoch.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxconcepts.sae._models import (
    METHODS,
    SAE,
    Params,
    SAEConfig,
    _unit_rows,
    init_params,
    loss_and_grad,
    project_relax,
    thresholds,
)
from jaxconcepts._malloc import warn_if_untuned
from jaxconcepts.mesh import data_mesh, put_rows, replicate, replicated, to_host

__all__ = ["TrainState", "fit_sae", "fit_sae_streamed", "make_config", "train_step"]


class TrainState(NamedTuple):
    """params, Adam state, ``since (d,)`` rows since each latent fired, BatchTopK's thresholds'
    sum and count, each step's weight decayed by :data:`THRESHOLD_MOMENTUM` (the inference
    threshold is their ratio)."""

    params: Params
    opt_state: optax.OptState
    since: jax.Array
    thr_sum: jax.Array
    thr_n: jax.Array


@dataclasses.dataclass(frozen=True)
class _Opt:
    learning_rate: float
    inv_sigma: float
    freeze_decoder: bool = False


def make_config(method: str, *, width: int, k: int, channels: int, sparsity: float = 1e-3,
                bandwidth: float = 0.5, prefixes=None, aux_k: int | None = None,
                aux_coef: float = 1 / 32, dead_after: int = 1_000_000, candidates: int = 0,
                delta: float = 0.1, logit_scale: float = 10.0,
                topk_bins: int = 0, threshold_scale: float = 1.0) -> SAEConfig:
    """Check the settings (ValueError naming the valid range) and build the static config.

    ``prefixes`` (Matryoshka): default ``(d/8, d/4, d/2, d)`` (those ≥ k); ``aux_k``: default
    ``min(d, c/2)`` (Gao et al.'s "about half the input dimension"); JumpReLU has no AuxK.
    Archetypal: ``candidates`` ``m ≥ 1`` k-means candidate points (0: ``4 d``; the fits cap it
    at the init sample's rows), ``delta`` ≥ 0 the relaxation bound, ``logit_scale`` > 0 (10:
    measured on the synthetic problem of ``tests/sae``, TopK k = 4: MCC 0.61 at scale 1, 0.78 at
    10, 0.77 at 30; the weights barely leave their start at 1).

    ``topk_bins`` (TopK, archetypal; training only): 0 (default) the exact top-k, else the binned
    approximate top-k (:func:`~jaxconcepts.sae._models.approx_top_k`) with that many bins (not
    the default: on the methods benchmark its gain in step time was small against the loss in
    R²; the README's benchmark section has the figures).

    ``threshold_scale`` (JumpReLU) > 0: ``θ = exp(threshold_scale · φ)`` with ``φ`` trained
    (:func:`~jaxconcepts.sae._models.thresholds`). 1 (default) is the plain ``log θ``, under
    which Adam grows a threshold by at most ``e^(lr · steps)``: the L0 term, which reaches only
    the thresholds, then sparsifies slowly. Not the default yet (it changes every JumpReLU fit
    of the scoreboard); the README's benchmark section has what 10 does there."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}; valid choices: {list(METHODS)}")
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width={width!r} should be an int >= 1")
    if method != "jumprelu" and not 1 <= k <= width:
        raise ValueError(f"{method} SAE: k={k} should be in [1, width={width}]")
    if sparsity < 0 or not np.isfinite(sparsity):
        raise ValueError(f"{method} SAE: sparsity={sparsity} should be finite and >= 0")
    if not bandwidth > 0:
        raise ValueError(f"{method} SAE: bandwidth={bandwidth} should be > 0")
    if dead_after < 1:
        raise ValueError(f"dead_after={dead_after} should be >= 1 rows")
    aux_k = min(width, max(1, channels // 2)) if aux_k is None else int(aux_k)
    if not 0 <= aux_k <= width:
        raise ValueError(f"{method} SAE: aux_k={aux_k} should be in [0, width={width}]")
    if method == "matryoshka":
        if prefixes is None:
            prefixes = sorted({m for m in (width // 8, width // 4, width // 2) if m >= k} | {width})
        prefixes = tuple(int(m) for m in prefixes)
        if list(prefixes) != sorted(set(prefixes)) or prefixes[0] < 1 or prefixes[-1] != width:
            raise ValueError(f"matryoshka SAE: prefixes={prefixes} should increase strictly "
                             f"within [1, width={width}] and end at width")
    else:
        prefixes = (width,)
    if method == "archetypal":
        candidates = int(candidates) or 4 * int(width)
        if candidates < 1 or not (delta >= 0 and np.isfinite(delta)) or not logit_scale > 0:
            raise ValueError(f"archetypal SAE: candidates={candidates} should be >= 1, "
                             f"delta={delta} finite and >= 0, logit_scale={logit_scale} > 0")
    else:
        candidates, delta, logit_scale = 0, 0.0, 1.0
    if not (threshold_scale > 0 and np.isfinite(threshold_scale)):
        raise ValueError(f"{method} SAE: threshold_scale={threshold_scale} should be finite "
                         f"and > 0")
    if method != "jumprelu":
        threshold_scale = 1.0
    if method in ("topk", "archetypal"):
        topk_bins = int(topk_bins)
        if topk_bins and not (k <= topk_bins and width % topk_bins == 0 and topk_bins < width):
            raise ValueError(f"{method} SAE: topk_bins={topk_bins} should be 0 or divide "
                             f"width={width}, with k={k} <= topk_bins < width")
    else:
        topk_bins = 0
    return SAEConfig(method=method, width=int(width), k=int(k) if method != "jumprelu" else 0,
                     sparsity=float(sparsity), bandwidth=float(bandwidth), prefixes=prefixes,
                     aux_k=aux_k, aux_coef=float(aux_coef), dead_after=int(dead_after),
                     var=float(channels), channels=int(channels), candidates=int(candidates),
                     delta=float(delta), logit_scale=float(logit_scale),
                     topk_bins=topk_bins, threshold_scale=float(threshold_scale))


THRESHOLD_MOMENTUM = 0.9
"""BatchTopK / Matryoshka: the inference threshold is a debiased exponential moving average of
the training batches' thresholds with this momentum (overcomplete's default): it follows the
encoder as it trains. (A plain mean over every step, used before, kept the first epoch's higher
thresholds: on the methods benchmark's data, after 5 epochs, L0 12.1 at inference for k = 16
and R² 0.550; momentum 0.99: L0 13.6, R² 0.569; 0.9: L0 15.0, R² 0.582.)"""


def _optimizer(opt: _Opt):
    return optax.adam(opt.learning_rate)


def _candidates(key, cfg: SAEConfig, sample_scaled: np.ndarray, n_iter: int = 25):
    """Archetypal: ``m`` k-means centroids (Lloyd, ``n_iter`` steps from ``m`` key-chosen rows) of
    the σ-scaled init sample; ``m`` capped at the sample's rows."""
    from jaxconcepts.sae._dictionaries import _lloyd

    m = min(cfg.candidates, sample_scaled.shape[0])
    idx = np.asarray(jax.random.choice(key, sample_scaled.shape[0], (m,), replace=False))
    C, _ = _lloyd(jnp.asarray(sample_scaled), jnp.asarray(sample_scaled[idx]), n_iter)
    return C


def init_state(key, cfg: SAEConfig, opt: _Opt, sample_scaled: np.ndarray, *,
               decoder_init=None, candidates=None) -> TrainState:
    if cfg.method == "archetypal" and candidates is None:
        candidates = _candidates(jax.random.fold_in(key, 1), cfg, sample_scaled)
    p = init_params(key, cfg, sample_scaled, decoder_init=decoder_init, candidates=candidates)
    return TrainState(p, _optimizer(opt).init(p), jnp.zeros((cfg.width,), jnp.float32),
                      jnp.float32(0.0), jnp.float32(0.0))


def train_step(state: TrainState, A, mask, cfg: SAEConfig, opt: _Opt):
    """One optimiser step on rows ``A (n, c)`` (raw units) with valid-row ``mask (n,)``.

    A batch of padding only (a process with fewer shards) leaves the state as it was
    (``lax.cond``: no work, no select over the state on ordinary steps).

    Returns ``(state, (loss, recon, l0))`` (recon = unexplained share of variance)."""
    n_valid = jnp.sum(mask).astype(jnp.float32)
    zero = jnp.float32(0.0)
    return lax.cond(n_valid > 0, functools.partial(_step, cfg=cfg, opt=opt),
                    lambda s, A, mask, nv: (s, (zero, zero, zero)), state, A, mask, n_valid)


def _step(state: TrainState, A, mask, n_valid, *, cfg: SAEConfig, opt: _Opt):
    A = A.astype(jnp.float32) * opt.inv_sigma
    dead = state.since >= cfg.dead_after
    (loss, (fired, terms)), g = loss_and_grad(state.params, cfg, A, mask, dead)
    W = state.params.W_dec
    if opt.freeze_decoder or cfg.method == "archetypal":  # archetypal: W_dec is derived
        g = g._replace(W_dec=jnp.zeros_like(g.W_dec))
    else:
        g = g._replace(W_dec=g.W_dec - jnp.sum(g.W_dec * W, axis=1, keepdims=True) * W)
    g = g._replace(cands=jnp.zeros_like(g.cands))
    upd, opt_state = _optimizer(opt).update(g, state.opt_state, state.params)
    p = optax.apply_updates(state.params, upd)
    if opt.freeze_decoder:
        p = p._replace(W_dec=W)
    p = project_relax(p, cfg) if cfg.method == "archetypal" else p._replace(
        W_dec=_unit_rows(p.W_dec))
    since = jnp.where(fired, 0.0, state.since + n_valid)
    mom = THRESHOLD_MOMENTUM
    new = TrainState(p, opt_state, since, mom * state.thr_sum + terms["thr"],
                     mom * state.thr_n + 1.0)
    return new, (loss, terms["recon"], terms["l0"])


@functools.partial(jax.jit, static_argnums=(4, 5), donate_argnums=0)
def _epoch_in_memory(state, A, idx, mask, cfg, opt):
    """One epoch: ``lax.scan`` of :func:`train_step` over batches ``A[idx[b]]``."""
    def body(s, im):
        i, m = im
        return train_step(s, A[i], m, cfg, opt)

    return lax.scan(body, state, (idx, mask))


@functools.cache
def _sharded_step(mesh, cfg, opt):
    rep = replicated(mesh)
    return jax.jit(functools.partial(train_step, cfg=cfg, opt=opt), donate_argnums=0,
                   out_shardings=(rep, rep))


def _to_model(state: TrainState, cfg: SAEConfig, sigma: float, losses, deads,
              n_classes: int) -> SAE:
    p = jax.tree.map(lambda x: jnp.asarray(to_host(x)), state.params)
    if cfg.method == "jumprelu":
        theta = thresholds(p, cfg) * sigma
    elif cfg.method in ("batchtopk", "matryoshka"):
        thr = float(to_host(state.thr_sum)) / max(float(to_host(state.thr_n)), 1.0)
        theta = jnp.full((cfg.width,), thr * sigma, jnp.float32)
    else:
        theta = jnp.zeros((cfg.width,), jnp.float32)
    n_dead = int(np.sum(to_host(state.since) >= cfg.dead_after))
    arch = {}
    if cfg.method == "archetypal":
        arch = {"candidates": p.cands * sigma, "weights": jax.nn.softmax(cfg.logit_scale * p.logits,
                                                                 axis=1)}
    return SAE(W_enc=p.W_enc, b_enc=p.b_enc * sigma, W_dec=p.W_dec, b_dec=p.b_dec * sigma,
               theta=theta, config=cfg, n_classes=int(n_classes),
               loss_history=np.asarray(losses, np.float64), dead_history=np.asarray(deads),
               n_dead=n_dead, **arch)


def _scale(sample: np.ndarray, method: str) -> tuple[float, np.ndarray]:
    """σ = √(s²/c) from a sample (float64 sums), and the sample in σ units."""
    s = np.asarray(sample, np.float64)
    var = float(np.mean(np.sum((s - s.mean(0)) ** 2, axis=1)))
    if not np.isfinite(var) or var <= 0:
        raise ValueError(f"{method} SAE: the rows have zero or non-finite variance ({var}); "
                         "nothing to fit")
    sigma = float(np.sqrt(var / s.shape[1]))
    return sigma, (s / sigma).astype(np.float32)


def _check_init(cfg, decoder_init, freeze_decoder):
    if cfg.method == "archetypal" and (decoder_init is not None or freeze_decoder):
        raise ValueError("archetypal SAE: its atoms come from the candidates; decoder_init and "
                         "freeze_decoder are for the free-decoder SAEs")


def _with_points(method: str, c: int, candidate_points, settings: dict):
    """``candidate_points`` checked (archetypal only, ``(m, c)``, finite) as float32, with
    ``settings["candidates"]`` set to its ``m`` (a different ``candidates`` is a ValueError);
    None stays None."""
    if candidate_points is None:
        return None
    if method != "archetypal":
        raise ValueError(f"{method} SAE: candidate_points are the archetypal SAE's")
    C = np.asarray(candidate_points, np.float32)
    if C.ndim != 2 or C.shape[0] < 1 or C.shape[1] != c:
        raise ValueError(f"archetypal SAE: candidate_points should be (m >= 1, c={c}), got "
                         f"shape {C.shape}")
    if not np.isfinite(C).all():
        raise ValueError("archetypal SAE: candidate_points have NaN/Inf entries")
    if settings.get("candidates", C.shape[0]) != C.shape[0]:
        raise ValueError(f"archetypal SAE: candidates={settings['candidates']} but "
                         f"candidate_points has {C.shape[0]} rows")
    settings["candidates"] = C.shape[0]
    return C


def _check_finite(loss, cfg, opt, epoch, batch_size):
    bad = ~np.isfinite(loss)
    if bad.any():
        raise FloatingPointError(
            f"{cfg.method} SAE diverged: non-finite loss at epoch {epoch}, step "
            f"{int(np.flatnonzero(bad)[0])} (width={cfg.width}, k={cfg.k}, "
            f"sparsity={cfg.sparsity}, learning_rate={opt.learning_rate}, "
            f"batch_size={batch_size}); lower learning_rate or check the activations")


def fit_sae(A, *, method: str = "topk", width: int, k: int = 8, key, epochs: int = 10,
            batch_size: int = 4096, learning_rate: float = 1e-3, shuffle: bool = True,
            init_rows: int = 65536, n_classes: int = 1, callback: Callable | None = None,
            decoder_init=None, freeze_decoder: bool = False, order_key=None,
            candidate_points=None, **settings) -> SAE:
    """Fit an SAE on in-memory rows ``A`` ``(n, c)`` (module docstring).

    Args:
        A: ``(n, c)`` float rows. key: PRNG key (init, then shuffling).
        method: ``"topk"``, ``"batchtopk"``, ``"jumprelu"`` or ``"matryoshka"``.
        width, k: latents d and active latents per row; further settings (``sparsity``,
            ``bandwidth``, ``prefixes``, ``aux_k``, ``aux_coef``, ``dead_after``) go to
            :func:`make_config`.
        epochs, batch_size, learning_rate: Adam over ``ceil(n / batch_size)`` mini-batches per
            epoch (the last one padded and masked).
        init_rows: rows of the initialisation sample (σ, ``b_dec``): the first ``init_rows`` of a
            key-drawn permutation (of ``A`` itself when ``shuffle=False``).
        callback: ``callback(epoch, mean_loss)`` after each epoch.
        decoder_init: ``(width, c)`` initial decoder (normalised to unit rows; the encoder is
            tied to it) instead of a ``key``-drawn random one, e.g. k-means centroids shared by
            several runs ("stabilised" runs); not for the archetypal SAE.
        freeze_decoder: keep the initial decoder (the random frozen-decoder baseline).
        order_key: if given, draws the init sample and the shuffling instead of ``key`` (so
            runs can share an initialisation and differ in data order).
        candidate_points: archetypal only: ``(m, c)`` candidate points in the rows' units (the
            atoms' convex hull) instead of the k-means centroids of the init sample that the fit
            computes otherwise; ``candidates`` becomes ``m``. Several runs (seeds, settings) on
            the same rows can share one set, e.g. ``model.candidates`` of an earlier fit.

    Raises:
        ValueError: bad shapes or settings, non-finite or constant rows.
        FloatingPointError: a non-finite loss.
    """
    A = np.asarray(A)
    if A.ndim != 2 or A.shape[0] == 0:
        raise ValueError(f"A should be a non-empty 2-D (n, c) array, got shape {A.shape}")
    if not np.isfinite(A).all():
        raise ValueError(f"{method} SAE: A has NaN/Inf entries")
    if epochs < 1 or batch_size < 1 or not learning_rate > 0:
        raise ValueError(f"epochs={epochs} and batch_size={batch_size} should be >= 1 and "
                         f"learning_rate={learning_rate} > 0")
    n, c = A.shape
    settings.setdefault("dead_after", min(n, 1_000_000))
    points = _with_points(method, c, candidate_points, settings)
    cfg = make_config(method, width=width, k=k, channels=c, **settings)
    _check_init(cfg, decoder_init, freeze_decoder)
    k_init, key = jax.random.split(key)
    if order_key is not None:
        key = order_key
    order = np.asarray(jax.random.permutation(key, n)) if shuffle else np.arange(n)
    sigma, sample = _scale(A[np.sort(order[:init_rows])], method)
    opt = _Opt(float(learning_rate), 1.0 / sigma, bool(freeze_decoder))
    state = init_state(k_init, cfg, opt, sample, decoder_init=decoder_init,
                       candidates=None if points is None else points / sigma)
    b = min(batch_size, n)
    nb = -(-n // b)
    A_dev = jnp.asarray(A)
    losses, deads = [], []
    for epoch in range(epochs):
        key, sub = jax.random.split(key)
        perm = np.asarray(jax.random.permutation(sub, n)) if shuffle else np.arange(n)
        idx = np.zeros(nb * b, np.int32)
        idx[:n] = perm
        mask = (np.arange(nb * b) < n).reshape(nb, b)
        state, (loss, _, _) = _epoch_in_memory(state, A_dev, jnp.asarray(idx.reshape(nb, b)),
                                               jnp.asarray(mask), cfg, opt)
        loss = np.asarray(loss)
        _check_finite(loss, cfg, opt, epoch, b)
        losses.append(float(loss.mean()))
        deads.append(int(np.sum(np.asarray(state.since) >= cfg.dead_after)))
        if callback is not None:
            callback(epoch, losses[-1])
    return _to_model(state, cfg, sigma, losses, deads, n_classes)


def _step_batches(rows, m):
    """The view's batches, or one batch per group of ``m`` shards (checked)."""
    if m is None:
        yield from rows
        return
    for batch, last in rows.groups(int(m)):
        if not last:
            raise ValueError(
                f"shards_per_step={m}: a group of {m} shards does not fit in one batch of "
                f"images_per_batch={rows.images_per_batch} images on this process; raise "
                "images_per_batch to at least the images of the group's shards one process "
                "reads")
        yield batch


def fit_sae_streamed(rows, *, method: str = "topk", width: int, k: int = 8, key,
                     epochs: int = 10, learning_rate: float = 1e-3, init_rows: int = 65536,
                     init_seed: int = 0, mesh=None, callback: Callable | None = None,
                     decoder_init=None, freeze_decoder: bool = False,
                     shards_per_step: int | None = None, candidate_points=None,
                     **settings) -> SAE:
    """Fit an SAE on a :class:`~jaxconcepts.store.RowsView`, data-parallel over ``mesh``.

    Each of the view's batches (whole images; padding images masked out) is one optimiser step
    on the global batch (every process's rows); ``epochs`` passes over the store. The
    initialisation sample is ``rows.sample(init_rows, seed=init_seed)`` (the same on every
    process); ``key`` draws the initial decoder. Other arguments as :func:`fit_sae`; ``n_classes``
    is the view's. Memory: a few batches, independent of the store's size.

    **Group-aligned steps** (``shards_per_step=m``): one optimiser step per group of ``m``
    consecutive shards of the global manifest (``rows.groups(m)``), the group's rows in one
    global batch. A group holds the same rows whichever process reads which of its shards, so
    the steps, and the fitted atoms, are the same for 1 or 2 processes up to the order of float
    sums (padding rows are masked and BatchTopK's budget counts valid rows only). Each process
    must read its share of a group in one batch: ``images_per_batch`` ≥ the images of the
    group's shards that one process holds (else ValueError). Without it each process steps
    through its own shards, and the global batches depend on the process count.

    Raises:
        ValueError: bad settings; FloatingPointError: a non-finite loss.
    """
    warn_if_untuned("fit_sae_streamed")
    if epochs < 1 or not learning_rate > 0:
        raise ValueError(f"epochs={epochs} should be >= 1 and learning_rate={learning_rate} > 0")
    mesh = data_mesh() if mesh is None else mesh
    c = rows.channels
    settings.setdefault("dead_after", min(rows.n_rows, 1_000_000))
    points = _with_points(method, c, candidate_points, settings)
    cfg = make_config(method, width=width, k=k, channels=c, **settings)
    _check_init(cfg, decoder_init, freeze_decoder)
    sample, _ = rows.sample(init_rows, seed=init_seed)
    sigma, sample = _scale(sample, method)
    opt = _Opt(float(learning_rate), 1.0 / sigma, bool(freeze_decoder))
    k_init, _ = jax.random.split(key)  # as fit_sae
    state = jax.tree.map(lambda x: replicate(mesh, x),
                         init_state(k_init, cfg, opt, sample, decoder_init=decoder_init,
                                    candidates=None if points is None else points / sigma))
    if shards_per_step is not None and shards_per_step < 1:
        raise ValueError(f"shards_per_step={shards_per_step} should be >= 1")
    step = _sharded_step(mesh, cfg, opt)
    losses, deads = [], []
    for epoch in range(epochs):
        out = []
        for batch in _step_batches(rows, shards_per_step):
            n_img, ch, _ = batch.A.shape
            A_g, m_g = put_rows(mesh, batch.A.reshape(n_img * ch, c), np.repeat(batch.valid, ch))
            state, (loss, _, _) = step(state, A_g, m_g)
            out.append(loss)
        loss = np.asarray([to_host(x) for x in out])
        _check_finite(loss, cfg, opt, epoch, rows.images_per_batch * rows.rows_per_image)
        losses.append(float(loss.mean()))
        deads.append(int(np.sum(to_host(state.since) >= cfg.dead_after)))
        if callback is not None:
            callback(epoch, losses[-1])
    return _to_model(state, cfg, sigma, losses, deads, rows.n_classes)
