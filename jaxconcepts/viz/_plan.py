"""Which figures to draw for which images, and what the report says about each image.

The ``figures`` stage reads the store, the concepts file and the importance file; this module turns
them into one plain description per image (``describe_images``: class names, p_t, flags with their
reason, concept sizes and importances) and, for one drawn image, into its figures
(``image_figures``: the concepts of each method by decreasing I_l, their sub-concepts, and the
methods side by side, paper Figs. 3-6). Nothing here reads or writes files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxconcepts.store import imagenet_descriptions
from jaxconcepts.viz._figures import plot_compare, plot_concepts, plot_sub_concepts

__all__ = [
    "FLAG_FEW",
    "FLAG_ZERO",
    "class_namer",
    "image_flags",
    "concept_counts",
    "describe_images",
    "image_figures",
    "pick_rows",
]

FLAG_FEW, FLAG_ZERO = 1, 2  # bits of {m}_flags in the concepts parts (ARCHITECTURE.md)


def _imagenet_descriptions() -> list[str] | None:
    """The ImageNet-1k class descriptions (each class's lemmas, from timm's data files: the
    store's vocabulary, :func:`~jaxconcepts.store.imagenet_descriptions`); None without them."""
    try:
        return imagenet_descriptions()
    except (ModuleNotFoundError, FileNotFoundError):
        return None


def class_namer(manifest: Mapping[str, Any]) -> Callable[[int], str]:
    """Head output index -> name: the manifest's class names when there is one per head output
    (a model trained on the folders), else timm's ImageNet names (1000 outputs; folder names of
    a labelled folder are then C2MF's classes, not the head's), else ``"class <i>"``."""
    names = manifest.get("class_names")
    n_out = int((manifest.get("head") or {}).get("num_classes", 0))
    if names and n_out and len(names) != n_out:
        names = None
    if not names and n_out == 1000:
        names = _imagenet_descriptions()
    if names:
        return lambda i: str(names[i]) if 0 <= i < len(names) else f"class {i}"
    return lambda i: f"class {i}"


def image_flags(method: str, flags: int, n_found: int, n_concepts: int) -> list[str]:
    """Human-readable reasons for a concepts file's flag bits."""
    out = []
    if flags & FLAG_ZERO:
        out.append(f"{method.upper()}: all activations are zero, so there is no concept to show")
    elif flags & FLAG_FEW:
        out.append(
            f"{method.upper()}: fewer than {n_concepts} concepts ({n_found} found): too few "
            "distinct non-zero channels for the requested number of clusters"
        )
    return out


def concept_counts(labels, sub_labels, k: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Channels per concept (K,) and per sub-concept (K, S) of one image's labels (C,)."""
    labels, sub_labels = np.asarray(labels), np.asarray(sub_labels)
    cnt = (labels[:, None] == np.arange(k)[None]).sum(0)
    sub = (
        (labels[:, None, None] == np.arange(k)[None, :, None])
        & (sub_labels[:, None, None] == np.arange(s)[None, None, :])
    ).sum(0)
    return cnt, sub


def pick_rows(n: int, max_images: int, how: str) -> list[int]:
    """The store rows to draw: the first ``max_images`` (``how="first"``) or ``max_images``
    evenly spaced over the ``n`` rows (``"spread"``: a store sorted by class folder gives every
    class its share).

    Raises:
      ValueError: ``how`` is neither.
    """
    m = min(max_images, n)
    if how == "first":
        return list(range(m))
    if how == "spread":
        return sorted({int(r) for r in np.linspace(0, n - 1, m).round()}) if m else []
    raise ValueError(f"how={how!r} should be 'first' or 'spread'")


def describe_images(images, pred, concepts, importance, methods, k: int, s: int,
                    min_p: float, name_of: Callable[[int], str]) -> list[dict]:
    """One description per image of the store (drawn or not), in store order.

    Args:
      images: the store's image records (``ActivationStore.images``: ``index``, ``label_name``,
        ``path`` resolved to the file, ``rel`` as recorded in the manifest).
      pred: (N,) predicted classes in store order.
      concepts, importance: the arrays of the concepts and importance files (with ``index``).
      methods: methods present in both files.
      k, s: concepts and sub-concepts per image.
      min_p: the importance stage's p_t threshold (below it Eq. 3 is undefined).
      name_of: class index -> name (``class_namer``).
    """
    c_pos = {int(i): r for r, i in enumerate(concepts["index"])}
    i_pos = {int(i): r for r, i in enumerate(importance["index"])}
    entries = []
    for row, im in enumerate(images):
        idx = int(im["index"])
        cr, ir = c_pos[idx], i_pos[idx]
        p_t, tgt = float(importance["p_t"][ir]), int(importance["target"][ir])
        e = {
            "index": idx, "path": str(im["path"]), "rel": im.get("rel", im["path"]),
            "name": Path(im["path"]).name,
            "label_name": im.get("label_name"),
            "pred": int(pred[row]), "pred_name": name_of(int(pred[row])),
            "target": tgt, "target_name": name_of(tgt), "p_t": p_t,
            "flags": [], "methods": {}, "files": {},
        }
        if not p_t >= min_p:
            e["flags"].append(f"p_t = {p_t:.3g} is below min_p = {min_p:.3g}: Eq. 3 is undefined, "
                              "importances are set to 0")
        if not Path(im["path"]).is_file():
            e["flags"].append(f"image file {str(im['path'])!r} is missing: no figure")
        for m in methods:
            cnt, _ = concept_counts(concepts[f"{m}_labels"][cr], concepts[f"{m}_sub_labels"][cr],
                                    k, s)
            n_found = (int(concepts[f"{m}_n_concepts"][cr]) if f"{m}_n_concepts" in concepts
                       else int((cnt > 0).sum()))
            flags = int(concepts[f"{m}_flags"][cr]) if f"{m}_flags" in concepts else 0
            e["flags"] += image_flags(m, flags, n_found, k)
            e["methods"][m] = {
                "n_concepts": n_found, "flags": flags,
                "importance": [round(float(x), 4) for x in importance[f"{m}_importance"][ir]],
                "channels": [int(x) for x in cnt],
            }
        entries.append(e)
    return entries


def _short(name: str) -> str:
    """A class name for a figure title: its first lemma (ImageNet names list up to a dozen, e.g.
    "dragonfly, darning needle, devil's darning needle, ..."; the page keeps the whole name)."""
    return name.split(",")[0]


def image_figures(entry: Mapping[str, Any], gray: np.ndarray, maps: Mapping[str, tuple],
                  importance: Mapping[str, np.ndarray], row: int, k: int,
                  s: int) -> Iterator[tuple[str, str, Any]]:
    """The figures of one image: ``(key, file name, Figure)`` for each method's concepts, its
    sub-concepts (when S > 0) and the methods side by side (paper Figs. 3-6).

    Args:
      entry: the image's ``describe_images`` entry.
      gray: (H, W) the model view in gray, in [0, 1].
      maps: ``{method: (labels (C,), sub_labels (C,), maps (K, H, W), sub_maps (K, S, H, W) or
        None)}`` of this image.
      importance: the importance file's arrays; ``row`` is this image's row in them.
    """
    title = (f"{entry['name']}: predicted {_short(entry['pred_name'])} "
             f"(target {_short(entry['target_name'])}, p_t={entry['p_t']:.3f})")
    stem = f"{entry['index']:05d}"
    cmp_rows = {}
    for m, (lab, sub, m_maps, sub_maps) in maps.items():
        cnt, sub_cnt = concept_counts(lab, sub, k, s)
        imp = importance[f"{m}_importance"][row]
        cmp_rows[m] = (m_maps, imp, cnt)
        yield m, f"{stem}_{m}.png", plot_concepts(gray, m_maps, imp, cnt,
                                                  title=f"{m.upper()} - {title}")
        if sub_maps is not None:
            order = [int(l) for l in np.argsort(-imp, kind="stable") if cnt[l] > 0]
            yield f"{m}_sub", f"{stem}_{m}_sub.png", plot_sub_concepts(
                gray, sub_maps, importance[f"{m}_sub_importance"][row], sub_cnt, order,
                title=f"{m.upper()} sub-concepts - {title}",
            )
    yield "compare", f"{stem}_compare.png", plot_compare(gray, cmp_rows, title=title)
