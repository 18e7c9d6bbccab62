"""Human-readable class names: ImageNet synset lemmas and definitions (from timm), or the store's.

timm ships the ImageNet-1k synsets with their WordNet lemmas and glosses as data files
(``timm/data/_info``, what ``timm.data.ImageNetInfo`` reads); they are read here as files,
without importing timm (which would import torch: only ``features/`` does), so nothing is
downloaded. Concept naming (C2MF App. E), the figures' titles and the CLIP prompts read them from
here. :func:`label_space` picks the names of a model's output space:
the store's ``class_names`` when it has them (a model trained on its own classes, e.g. planted),
the ImageNet lemmas for a 1000-way head, and ``class <i>`` otherwise.

Two vocabularies meet here. A store's *labels* come from its ``<class>/<image>`` folders
(:func:`label_indices`); the *head* has its own K outputs. They are the same space when the folders
are ImageNet synsets under a 1000-way head (labels are mapped to ImageNet indices) or when the
model was trained on these folders (one folder per output, sorted); otherwise (say 4 folders of
photos under a pretrained ImageNet head) a label ``i`` is *not* head output ``i``
(:func:`labels_are_head_outputs`), and :func:`head_label_space` names the head's outputs without
the folders' names.
"""

from __future__ import annotations

import csv
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, Sequence

__all__ = ["LabelSpace", "imagenet_synsets", "imagenet_lemmas", "imagenet_definitions",
           "imagenet_descriptions", "label_space", "head_label_space", "labels_are_head_outputs",
           "label_indices"]


class LabelSpace(NamedTuple):
    """Names of a classifier's K outputs.

    names: K short names (first lemma, e.g. ``"goldfish"``); lemmas: K tuples of all lemmas;
    definitions: K glosses ("" when unknown); source: ``"store"``, ``"imagenet"`` or ``"index"``.
    """

    names: list[str]
    lemmas: list[tuple[str, ...]]
    definitions: list[str]
    source: str


def _info_text(name: str) -> str:
    """One of timm's bundled ImageNet data files (``timm/data/_info/<name>``), found with
    :func:`importlib.util.find_spec` (timm is not imported)."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("timm is not installed: the ImageNet-1k class names are its "
                                  "data files", name="timm")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "_info" / name
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _info() -> tuple[list[str], dict[str, str], dict[str, str]]:
    """timm's ImageNet-1k synsets in class order, synset -> lemmas and synset -> gloss (the
    files ``timm.data.ImageNetInfo("imagenet-1k")`` reads)."""
    synsets = _info_text("imagenet_synsets.txt").splitlines()
    lemmas = dict(csv.reader(_info_text("imagenet_synset_to_lemma.txt").splitlines(),
                             delimiter="\t"))
    glosses = dict(csv.reader(_info_text("imagenet_synset_to_definition.txt").splitlines(),
                              delimiter="\t"))
    return synsets, lemmas, glosses


def imagenet_synsets() -> list[str]:
    """The 1000 WordNet ids (``n01440764`` ...) in the standard class order."""
    return list(_info()[0])


def imagenet_descriptions() -> list[str]:
    """Per ImageNet-1k class, its lemmas as one string (``"goldfish, Carassius auratus"``)."""
    synsets, lemmas, _ = _info()
    return [lemmas[s] for s in synsets]


@lru_cache(maxsize=1)
def imagenet_lemmas() -> list[tuple[str, ...]]:
    """Per ImageNet-1k class, its WordNet lemmas (``("goldfish", "Carassius auratus")``)."""
    return [tuple(x.strip() for x in d.split(",") if x.strip())
            for d in imagenet_descriptions()]


@lru_cache(maxsize=1)
def imagenet_definitions() -> list[str]:
    """Per ImageNet-1k class, its WordNet gloss (the text after ``lemmas:``)."""
    synsets, lemmas, glosses = _info()
    out = []
    for d in (f"{lemmas[s]}: {glosses[s]}" for s in synsets):
        out.append(d.split(":", 1)[1].strip() if ":" in d else "")
    return out


def label_space(n_classes: int, class_names: Sequence[str] | None = None) -> LabelSpace:
    """The names of a K-way classifier's outputs (see module docstring).

    Args:
        n_classes: K, the head's number of outputs.
        class_names: the store manifest's ``class_names`` (None when the model's classes are
            not named by the dataset, e.g. a pretrained ImageNet model).

    Raises:
        ValueError: ``class_names`` given with a length other than ``n_classes``.
    """
    if n_classes < 1:
        raise ValueError(f"n_classes={n_classes} should be >= 1")
    if class_names is not None:
        names = [str(c) for c in class_names]
        if len(names) != n_classes:
            raise ValueError(f"class_names has {len(names)} entries, the head has "
                             f"n_classes={n_classes} outputs")
        return LabelSpace(names, [(n,) for n in names], [""] * n_classes, "store")
    if n_classes == 1000:
        lem = imagenet_lemmas()
        return LabelSpace([x[0] for x in lem], list(lem), imagenet_definitions(), "imagenet")
    names = [f"class {i}" for i in range(n_classes)]
    return LabelSpace(names, [(n,) for n in names], [""] * n_classes, "index")


def labels_are_head_outputs(n_classes: int, class_names: Sequence[str] | None) -> bool:
    """Whether a store's labels index its head's ``n_classes`` outputs (module docstring).

    ``class_names`` is the manifest's (:func:`label_indices`): None when the folders are ImageNet
    synsets mapped to ImageNet indices or the store is unlabelled (labels are then head outputs or
    -1); a list of one name per head output when the model was trained on these folders; any
    other length names folder classes that are not the head's outputs.
    """
    return class_names is None or len(class_names) == int(n_classes)


def head_label_space(n_classes: int, class_names: Sequence[str] | None = None) -> LabelSpace:
    """:func:`label_space` of a head with ``n_classes`` outputs, given a store manifest's
    ``class_names``: they name the outputs only when the labels are head outputs
    (:func:`labels_are_head_outputs`); folder classes of another vocabulary (4 folders under a
    1000-way ImageNet head) leave the head its own names."""
    names = class_names if labels_are_head_outputs(n_classes, class_names) else None
    return label_space(n_classes, names)


def label_indices(
    label_names: list[str | None], num_classes: int
) -> tuple[list[int], list[str] | None]:
    """Map folder names to class indices.

    ImageNet synset folders (``n01440764``) map to ImageNet indices for 1000-class models; other
    folders are numbered in sorted order (torchvision ImageFolder convention). Flat folders are
    unlabelled (-1).

    Returns:
        (indices, class_names) with ``class_names`` None for unlabelled data.
    """
    names = sorted({n for n in label_names if n is not None})
    if not names:
        return [-1] * len(label_names), None
    if num_classes == 1000 and all(n.startswith("n") and n[1:].isdigit() for n in names):
        to_idx = {s: i for i, s in enumerate(imagenet_synsets())}
        unknown = [n for n in names if n not in to_idx]
        if unknown:
            raise ValueError(f"folders {unknown[:5]} are not ImageNet-1k synsets")
        return [to_idx[n] if n is not None else -1 for n in label_names], None
    to_idx = {n: i for i, n in enumerate(names)}
    return [to_idx[n] if n is not None else -1 for n in label_names], names
