"""Optional concept naming with CLIP (C2MF App. E, Fig. 8), through ``open_clip_torch``.

The paper crops the local patches where a concept is strongest, embeds them with CLIP and reports
the nearest WordNet words. Here:

- :func:`load_clip` builds an open_clip model **from a checkpoint path the user supplies** (nothing
  is downloaded; ``checkpoint=None`` gives random weights, for tests only — its names mean
  nothing);
- :func:`concept_patches` cuts, for given (image, grid position) pairs, the image region of that
  activation cell (enlarged by ``scale``) and resizes it to CLIP's input;
- :func:`clip_name` embeds the patches and the prompts ``prompt.format(word)`` for a vocabulary
  (default: the ImageNet / WordNet lemmas of :mod:`jaxconcepts.store._labels`) and returns the
  ``n_words`` words with the highest mean softmax over the vocabulary (CLIP's own logit scale).

``open_clip_torch`` is an optional dependency (the ``clip`` / ``test`` extras); importing this
module without it raises an ImportError that says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

try:
    import open_clip
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("concept naming with CLIP needs open_clip_torch: "
                      "pip install 'jaxconcepts[clip]' (or open_clip_torch)") from e

__all__ = ["Clip", "load_clip", "concept_patches", "clip_name"]


class Clip(NamedTuple):
    """An open_clip model in eval mode, its tokenizer and input geometry."""

    model: Any
    tokenizer: Any
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def load_clip(model_name: str | None = None, *, checkpoint: str | Path | None,
              model_cfg: Mapping | None = None, tokenizer: str = "ViT-B-32") -> Clip:
    """An open_clip model from a local checkpoint.

    Args:
        model_name: an open_clip architecture (``"ViT-B-32"``, ``"RN50"`` ...), or None with
            ``model_cfg``.
        checkpoint: path to the weights (``open_clip_pytorch_model.bin`` / ``.safetensors`` /
            ``.pt``); None = random initialisation (tests; the names are then meaningless).
        model_cfg: instead of ``model_name``, an open_clip model config (``embed_dim``,
            ``vision_cfg``, ``text_cfg`` dicts), e.g. a small CLIP for tests.
        tokenizer: open_clip tokenizer name (the BPE vocabulary ships with open_clip).

    Raises:
        ValueError: neither or both of ``model_name`` / ``model_cfg``. FileNotFoundError: the
            checkpoint path does not exist.
    """
    if (model_name is None) == (model_cfg is None):
        raise ValueError("give exactly one of model_name (an open_clip architecture) or model_cfg")
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint={str(checkpoint)!r} is not a file; CLIP weights are "
                                "never downloaded here, pass the path of your own copy")
    if model_name is not None:
        model = open_clip.create_model(model_name, pretrained=None if checkpoint is None
                                       else str(checkpoint))
    else:
        from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

        cfg = dict(model_cfg)
        model = CLIP(embed_dim=int(cfg["embed_dim"]), vision_cfg=CLIPVisionCfg(**cfg["vision_cfg"]),
                     text_cfg=CLIPTextCfg(**cfg["text_cfg"]))
        if checkpoint is not None:
            open_clip.load_checkpoint(model, str(checkpoint))
    model.eval()
    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    ctx = int(model.context_length)
    mean = tuple(getattr(model.visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN)
    std = tuple(getattr(model.visual, "image_std", None) or open_clip.OPENAI_DATASET_STD)
    return Clip(model, open_clip.get_tokenizer(tokenizer, context_length=ctx), size, mean, std)


def concept_patches(images, image_ids, positions, *, grid: tuple[int, int], scale: float,
                    size: int) -> np.ndarray:
    """Image regions of activation cells, resized: ``(m, size, size, 3)`` float in [0, 1].

    Args:
        images: ``(N, H, W, 3)`` images as the model saw them (uint8 or float in [0, 1]).
        image_ids: ``(m,)`` image of each patch; positions: ``(m,)`` flat cell index in the
            ``grid`` = (h, w) activation map (row-major, as the store's rows).
        scale: crop side in cells (1 = the cell itself; 3 = the cell and its neighbours),
            clipped to the image.
    """
    ims = np.asarray(images)
    if ims.ndim != 4 or ims.shape[-1] != 3:
        raise ValueError(f"images should have shape (N, H, W, 3), got {ims.shape}")
    if ims.dtype == np.uint8:
        ims = ims.astype(np.float32) / 255.0
    ids, pos = np.asarray(image_ids, int), np.asarray(positions, int)
    if ids.shape != pos.shape or ids.ndim != 1:
        raise ValueError(f"image_ids {ids.shape} and positions {pos.shape} should be equal (m,)")
    h, w = grid
    if pos.size and (pos.min() < 0 or pos.max() >= h * w or ids.min() < 0
                     or ids.max() >= ims.shape[0]):
        raise ValueError(f"positions should lie in [0, {h * w}) and image_ids in "
                         f"[0, {ims.shape[0]})")
    if scale <= 0:
        raise ValueError(f"scale={scale} should be > 0")
    H, W = ims.shape[1:3]
    out = np.empty((ids.size, size, size, 3), np.float32)
    for n, (i, p) in enumerate(zip(ids, pos)):
        cy, cx = (p // w + 0.5) * H / h, (p % w + 0.5) * W / w
        hy, hx = 0.5 * scale * H / h, 0.5 * scale * W / w
        t, b = int(max(0, np.floor(cy - hy))), int(min(H, np.ceil(cy + hy)))
        l, r = int(max(0, np.floor(cx - hx))), int(min(W, np.ceil(cx + hx)))
        x = torch.from_numpy(np.ascontiguousarray(ims[i, t:b, l:r])).permute(2, 0, 1)[None]
        out[n] = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                                 align_corners=False)[0].permute(1, 2, 0).numpy()
    return np.clip(out, 0.0, 1.0)


@torch.no_grad()
def _text_features(clip: Clip, vocabulary: Sequence[str], prompt: str, batch: int = 256):
    feats = []
    for s in range(0, len(vocabulary), batch):
        toks = clip.tokenizer([prompt.format(v) for v in vocabulary[s:s + batch]])
        feats.append(torch.nn.functional.normalize(clip.model.encode_text(toks).float(), dim=-1))
    return torch.cat(feats)


@torch.no_grad()
def clip_name(clip: Clip, patches, *, vocabulary: Sequence[str] | None = None,
              prompt: str = "a photo of a {}.", n_words: int = 3,
              batch_size: int = 64) -> list[tuple[str, float]]:
    """The ``n_words`` words whose prompts CLIP finds closest to a concept's patches.

    Args:
        patches: ``(m, S, S, 3)`` float patches of one concept (:func:`concept_patches`).
        vocabulary: candidate words (default: the first WordNet lemma of each ImageNet class).
        prompt: template with one ``{}`` for the word.

    Returns:
        ``[(word, mean softmax probability over the vocabulary)]``, best first.
    """
    if vocabulary is None:
        from jaxconcepts.store import imagenet_lemmas

        vocabulary = [x[0] for x in imagenet_lemmas()]
    vocabulary = list(vocabulary)
    if not 1 <= n_words <= len(vocabulary):
        raise ValueError(f"n_words={n_words} should be in [1, len(vocabulary)={len(vocabulary)}]")
    if "{}" not in prompt:
        raise ValueError(f"prompt={prompt!r} should contain '{{}}' for the word")
    x = np.asarray(patches, np.float32)
    if x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] == 0:
        raise ValueError(f"patches should have shape (m >= 1, S, S, 3), got {x.shape}")
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    if t.shape[-1] != clip.image_size or t.shape[-2] != clip.image_size:
        t = torch.nn.functional.interpolate(t, size=(clip.image_size,) * 2, mode="bilinear",
                                            align_corners=False)
    mean = torch.tensor(clip.mean).view(1, 3, 1, 1)
    std = torch.tensor(clip.std).view(1, 3, 1, 1)
    t = (t - mean) / std
    txt = _text_features(clip, vocabulary, prompt)
    scale = clip.model.logit_scale.exp().float()
    probs = []
    for s in range(0, t.shape[0], batch_size):
        img = torch.nn.functional.normalize(clip.model.encode_image(t[s:s + batch_size]).float(),
                                            dim=-1)
        probs.append(torch.softmax(scale * img @ txt.T, dim=-1))
    p = torch.cat(probs).mean(0).numpy()
    best = np.argsort(-p, kind="stable")[:n_words]
    return [(vocabulary[i], float(p[i])) for i in best]
