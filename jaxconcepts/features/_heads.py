"""Split a timm model at any layer: g = the network up to a block, h = the rest, both torch.

M(x) = h(g(x)) (§3.1 of Lambert et al.). ``layer=None`` keeps the historical split: g is timm's
``forward_features`` (the last feature map) and h its ``forward_head``. A named layer is a module
of the model — a ``feature_info`` block such as ``blocks.2`` (EfficientNet), ``layer3`` (ResNet),
``stages.2`` (ConvNeXt) or ``blocks.5`` (ViT) — or an integer index into ``model.feature_info``.

- :class:`Trunk` (g) runs the model and stops as soon as the block has produced its output.
- :class:`Rest` (h) runs the model with the block's output *replaced* by the given activations
  (a forward hook), on a one-image dummy input, so it is exact for any network whose logits
  depend on the input only through that block. :func:`verify_split` checks h(g(x)) = M(x)
  numerically when the model is loaded, so a layer for which this does not hold is refused.

Transformer tokens (B, N, C) become a (B, C, H, W) grid; the rest of a ViT can be rebuilt from a
grid only when it has no class/register tokens (``class_token=False, global_pool='avg'``).
The closed form in JAX (``HeadParams``) remains for the last layer of GAP + linear heads.
"""

from __future__ import annotations

import difflib

import numpy as np
import torch

__all__ = ["Trunk", "Rest", "resolve_layer", "verify_split", "tokens_to_grid", "grid_to_tokens",
           "torch_head", "torch_head_with_grad", "host_fns"]


def resolve_layer(model: torch.nn.Module, layer: str | int | None) -> str | None:
    """The module name of ``layer`` (None for the last feature map).

    Raises:
        ValueError: an index outside ``feature_info`` or a name that is no module (lists the
            ``feature_info`` blocks and close names).
    """
    if layer is None or layer == "forward_features":
        return None
    info = [f["module"] for f in (getattr(model, "feature_info", None) or [])]
    if isinstance(layer, int) or (isinstance(layer, str) and layer.lstrip("-").isdigit()):
        i = int(layer)
        if not -len(info) <= i < len(info):
            raise ValueError(f"extract.layer={layer!r} is not an index of the model's "
                             f"feature_info blocks {info}")
        return info[i]
    names = {n for n, _ in model.named_modules() if n}
    if layer not in names:
        close = difflib.get_close_matches(str(layer), sorted(names), n=5, cutoff=0.6)
        hint = f"; close names: {close}" if close else ""
        raise ValueError(f"extract.layer={layer!r} is not a module of "
                         f"{type(model).__name__}; feature_info blocks: {info}{hint}")
    return layer


def tokens_to_grid(model: torch.nn.Module, f: torch.Tensor) -> torch.Tensor:
    """ViT tokens (B, P + prefix, C) → (B, C, H, W).

    Drops the class/register tokens and reshapes the rest."""
    n_prefix = int(getattr(model, "num_prefix_tokens", 1))
    patches = f[:, n_prefix:, :]
    n = patches.shape[1]
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f"cannot reshape {n} patch tokens to a square grid")
    return patches.transpose(1, 2).reshape(f.shape[0], f.shape[2], side, side)


def grid_to_tokens(model: torch.nn.Module, f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) grid → (B, H·W, C) tokens; only for models without prefix tokens."""
    n_prefix = int(getattr(model, "num_prefix_tokens", 0))
    if n_prefix:
        raise ValueError(
            f"{type(model).__name__} has {n_prefix} class/register tokens that the stored grid "
            "drops, so h cannot run on it; create the model with model_kwargs "
            "{class_token: false, global_pool: avg} (and no reg_tokens) to use a torch h"
        )
    return f.flatten(2).transpose(1, 2)


class _Stop(Exception):
    def __init__(self, out):
        self.out = out


class Trunk(torch.nn.Module):
    """g: images (B, 3, S, S) → activations at ``module`` as a (B, C, H, W) grid."""

    def __init__(self, model: torch.nn.Module, module: str | None):
        super().__init__()
        self.model, self.module = model, module

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        if self.module is None:
            return self.model.forward_features(x)

        def stop(_m, _inp, out):
            raise _Stop(out)

        handle = self.model.get_submodule(self.module).register_forward_hook(stop)
        try:
            self.model(x)
        except _Stop as s:
            return s.out
        finally:
            handle.remove()
        raise RuntimeError(f"the model's forward never ran module {self.module!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.raw(x)
        return tokens_to_grid(self.model, f) if f.ndim == 3 else f


class Rest(torch.nn.Module):
    """h: activations at ``module`` (B, C, H, W) → logits (B, K), the rest of the network."""

    def __init__(self, model: torch.nn.Module, module: str | None, input_size, tokens: bool):
        super().__init__()
        self.model, self.module, self.tokens = model, module, bool(tokens)
        self.input_size = tuple(int(s) for s in input_size)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        t = grid_to_tokens(self.model, f) if self.tokens else f
        if self.module is None:
            return self.model.forward_head(t)
        handle = self.model.get_submodule(self.module).register_forward_hook(lambda *_: t)
        try:
            dummy = torch.zeros((1, *self.input_size), device=f.device, dtype=f.dtype)
            return self.model(dummy)
        finally:
            handle.remove()


def verify_split(model, trunk: Trunk, rest: Rest, input_size, *, seed: int = 0) -> None:
    """Check h(g(x)) = M(x) on two random images (seeded ``torch.Generator``).

    Raises:
        ValueError: the logits differ, i.e. the output depends on the input other than
            through the chosen block; names the layer and the difference.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((2, *input_size), generator=gen)
    with torch.no_grad():
        full = model(x)
        got = rest(trunk(x))
    tol = 1e-4 * (1.0 + float(full.abs().max()))
    diff = float((got - full).abs().max())
    if got.shape != full.shape or not diff <= tol:
        raise ValueError(
            f"layer {trunk.module!r}: h(g(x)) differs from the model's output by {diff:.3g} "
            f"(tolerance {tol:.3g}); the logits depend on the input other than through this "
            "block, choose another extract.layer"
        )


def torch_head(store):
    """The model's own torch h (any layer) as a host function: float32 maps (B, C, H, W) ->
    logits (B, K), numpy in and out. Wrap it in ``jaxconcepts.heads.HostHead`` to run
    occlusion importance through it (features/ imports nothing above it).

    The model is rebuilt from the store's manifest (``load_model_from_store``).
    """
    return torch_head_with_grad(store)[0]


def torch_head_with_grad(store):
    """``(fn, grad)``: the store's torch h and its gradient, host functions sharing one model.

    - ``fn(maps)``: float32 ``(B, C, H, W)`` -> logits ``(B, K)`` (as :func:`torch_head`);
    - ``grad(maps, target)``: ``∂ logits[b, target[b]] / ∂ maps[b]``, float32 ``(B, C, H, W)``,
      by torch autograd through the rest of the network (the model is in eval mode, so each
      image's logit depends on its own map only and one backward of the summed target logits
      gives every image's gradient).

    Wrap them in ``jaxconcepts.heads.HostHead(fn, grad, ...)`` for the C2MF suite's Grad-CAM / IG
    rankings and insertion/deletion curves through a non-linear h.
    """
    from jaxconcepts.features._models import load_model_from_store

    return host_fns(load_model_from_store(store).rest)


def host_fns(module: torch.nn.Module):
    """``(fn, grad)`` of :func:`torch_head_with_grad` for any torch module mapping maps
    ``(B, C, H, W)`` to logits ``(B, K)`` (put in eval mode here)."""
    rest = module.eval()

    def maps(x):  # channels-last, as extraction runs the model (≈ 20 % faster convs on CPU)
        return torch.from_numpy(np.array(x, np.float32)).contiguous(
            memory_format=torch.channels_last)

    def fn(x):
        with torch.inference_mode():
            return rest(maps(x)).float().numpy()

    def grad(x, target):
        f = maps(x).requires_grad_(True)
        t = torch.from_numpy(np.asarray(target, np.int64)).reshape(-1, 1)
        if t.shape[0] != f.shape[0]:
            raise ValueError(f"target has {t.shape[0]} entries for {f.shape[0]} maps")
        with torch.enable_grad():
            z = rest(f).float()
            (g,) = torch.autograd.grad(z.gather(1, t).sum(), f)
        return g.contiguous().numpy()

    return fn, grad
