"""What the concept atlas of a fitted dictionary shows: codes, usage, names (issue 13, items 2-3).

For one fitted model of the C2MF suite (C2MF, CRAFT or PCA, one k) and every image of the kept
classes, :func:`atlas_data` computes

- each image's spatial code map per concept, ``(N, G, h, w)``;
- a class × concept **usage** matrix ``(Y, G)``: C2MF's gates σ(λ_y); for the per-class
  dictionaries (CRAFT, PCA) the mean |code| of the class's rows, divided by the class's largest,
  so that the same threshold reads "a concept this class leans on";
- the concepts' names in the classifier's label space (:func:`~._naming.name_concepts`): the
  head's outputs, even when the classes of the usage matrix are folder classes that are not;
- which concepts an atlas should draw (``max_concepts``): C2MF's most shared first (number of
  classes whose gate is open, then mean gate), the baselines' most used first.

Concepts: C2MF has one shared dictionary, so G = k. CRAFT and PCA fit one dictionary per class:
their concept ``j`` of class ``y`` is unrelated to concept ``j`` of another class, so they get
G = Y·k concepts named ``<class>/<j>``, each coded only on its own class's rows (zero elsewhere);
their usage matrix is block-diagonal by construction, which is the point of the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxconcepts.evaluation._naming import ConceptName, name_concepts
from jaxconcepts.evaluation._rows import RowsView, fitted_classes

__all__ = ["AtlasData", "atlas_data", "atlas_markdown", "clip_concept_names", "fitted_atlases"]


class AtlasData(NamedTuple):
    """method, k; images: (N,) store row positions; y_img: (N,) fitted class of each image;
    code_maps: (N, G, h, w); usage: (Y, G); labels: G concept labels; names: G ConceptName;
    order: the concepts to draw; class_names: Y names; shared: True for C2MF's gates."""

    method: str
    k: int
    images: np.ndarray
    y_img: np.ndarray
    code_maps: np.ndarray
    usage: np.ndarray
    labels: list[str]
    names: list[ConceptName]
    order: list[int]
    class_names: list[str]
    shared: bool


def _codes(model, method: str, A: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, G) codes of rows ``A`` of fitted classes ``y`` (module docstring)."""
    U = np.asarray(model.transform(A, y), np.float32)
    if method == "c2mf":
        return U * np.asarray(model.gates, np.float32)[y]
    k = U.shape[1]
    full = np.zeros((U.shape[0], n_classes * k), np.float32)
    cols = y[:, None] * k + np.arange(k)[None]
    np.put_along_axis(full, cols, U, axis=1)
    return full


def atlas_data(model, method: str, view: RowsView, head, *, label_names: Sequence[str],
               class_names: Sequence[str], grid: tuple[int, int], gate_threshold: float,
               max_concepts: int, top: int, per_image: int, n_words: int,
               batch_images: int, max_images: int, seed: int = 0) -> AtlasData:
    """Codes, usage, names and drawing order of one fitted model (module docstring).

    Args:
        model: a fitted C2MF / Craft / PCABaseline (``transform(A, y)``; C2MF: ``gates``).
        method: ``"c2mf"``, ``"craft"`` or ``"pca"``.
        view: the rows of the split the model was fitted on (all kept images are coded).
        head: the store's GAP + linear head (names are its classes).
        label_names: the head's K output names (the naming's words); class_names: the Y fitted
            (C2MF) classes' names (usage rows, recipes, the baselines' concept labels). The two
            differ when C2MF's classes are folders under, say, a 1000-way ImageNet head.
        grid: ``(h, w)`` of the activation maps (rows are positions in row-major order).
        gate_threshold: usage at or above it counts as "uses the concept".
        max_concepts: concepts in ``order``; top, per_image, n_words: the naming's settings.
        batch_images: images coded at a time.
    """
    if method not in ("c2mf", "craft", "pca"):
        raise ValueError(f"method={method!r}; valid choices: ['c2mf', 'craft', 'pca']")
    split, data = view.split, view.data
    imgs = np.sort(np.concatenate([split.train, split.test]))
    if imgs.size > max_images:  # a seeded sample: the atlas holds its images' rows in memory
        imgs = np.sort(np.random.default_rng(seed).choice(imgs, int(max_images), replace=False))
    A_all = view.rows(imgs, batch_images)  # (m, p, c), m <= max_images
    y_img = fitted_classes(split, data.cls[imgs])
    Y, p = view.n_classes, view.p
    if len(class_names) != Y:
        raise ValueError(f"class_names has {len(class_names)} entries, the model {Y} classes")
    parts = []
    for s in range(0, imgs.size, batch_images):
        sl = slice(s, s + batch_images)
        A = A_all[sl].reshape(-1, view.c)
        parts.append(_codes(model, method, A, np.repeat(y_img[sl], p), Y))
    codes = np.concatenate(parts)  # (N·p, G)
    G = codes.shape[1]
    k = G if method == "c2mf" else G // Y
    h, w = grid
    code_maps = codes.reshape(imgs.size, h, w, G).transpose(0, 3, 1, 2)
    if method == "c2mf":
        usage = np.asarray(model.gates, np.float64)
        labels = [f"C{j}" for j in range(G)]
        score = (usage >= gate_threshold).sum(0) + usage.mean(0) / 2  # shared first, then gate
    else:
        y_rows = np.repeat(y_img, p)
        raw = np.stack([np.abs(codes[y_rows == c]).mean(0) for c in range(Y)])  # (Y, G)
        top_c = raw.max(1, keepdims=True)
        usage = np.where(top_c > 0, raw / np.where(top_c > 0, top_c, 1.0), 0.0)
        labels = [f"{class_names[j // k]}/{j % k}" for j in range(G)]
        score = raw.max(0)
    order = [int(j) for j in np.argsort(-score, kind="stable")[:max_concepts]]
    names = name_concepts(A_all.reshape(-1, view.c), codes, head,
                          label_names=label_names, top=min(top, codes.shape[0]),
                          n_words=min(n_words, len(label_names)),
                          groups=np.repeat(np.arange(imgs.size), p), per_group=per_image)
    return AtlasData(method, k, imgs, y_img, code_maps, usage, labels, names, order,
                     [str(c) for c in class_names], method == "c2mf")


def clip_concept_names(atlas: AtlasData, load_image, clip, *, grid: tuple[int, int],
                       scale: float, n_words: int) -> dict[int, list[tuple[str, float]]]:
    """CLIP's words for the drawn concepts (``atlas.order``) of one atlas (App. E with CLIP).

    Each concept's named patches (its top rows, :attr:`ConceptName.rows`) are cut out of the
    images (``scale`` activation cells around each position) and given to
    :func:`jaxconcepts.features._clip.clip_name`. ``clip``: :func:`~jaxconcepts.features._clip.
    load_clip`'s model (the user's weights: nothing is downloaded); ``load_image``: store row
    position -> the image as the model saw it.
    """
    from jaxconcepts.features._clip import clip_name, concept_patches

    p = grid[0] * grid[1]
    out = {}
    for j in atlas.order:
        rows = np.asarray(atlas.names[j].rows)
        img_pos = rows // p
        uniq, ids = np.unique(img_pos, return_inverse=True)
        images = np.stack([load_image(int(atlas.images[i])) for i in uniq])
        patches = concept_patches(images, ids, rows % p, grid=grid, scale=scale,
                                  size=clip.image_size)
        out[j] = clip_name(clip, patches, n_words=n_words)
    return out


def fitted_atlases(fits, store, class_names: Sequence[str], load_image, *, methods, k: int,
                   gate_threshold: float, max_concepts: int, top: int, per_image: int,
                   n_words: int, batch_images: int, max_images: int, clip_model: str | None,
                   clip_checkpoint: str | None, clip_scale: float):
    """:func:`atlas_data` of each method's fit at ``k`` (capped at the data's cap) of the ``c2mf``
    stage's run, and CLIP's words for them when ``clip_checkpoint`` is given.

    Args:
        fits: :class:`~jaxconcepts.evaluation._c2mf_run.C2MFFits`; store: the activation store
            (head, manifest class names, grid); class_names: the Y fitted (C2MF) classes'
            names, which need not be the head's outputs (the words come from
            :func:`~jaxconcepts.features._labels.head_label_space`);
            load_image: store row position -> the image as the model saw it (CLIP only).

    Returns:
        ``(atlases, clip_names)``: a list of :class:`AtlasData` and ``{method: {concept: words}}``
        (empty without CLIP).
    """
    from jaxconcepts.features._labels import head_label_space

    # names are the head's outputs; the store's class names only when they name those (folder
    # classes under a pretrained head are C2MF's classes, ``class_names``, not the head's words)
    words = head_label_space(int(store.head.weight.shape[0]),
                             store.manifest.get("class_names")).names
    grid = tuple(int(x) for x in store.shape[1:])
    atlases = []
    for m in methods:
        model = fits.get(m, min(int(k), int(fits.caps[m])))
        if model is not None:
            atlases.append(atlas_data(
                model, m, fits.view, store.head, label_names=words, class_names=class_names,
                grid=grid, gate_threshold=gate_threshold, max_concepts=max_concepts, top=top,
                per_image=per_image, n_words=n_words, batch_images=batch_images,
                max_images=max_images))
    clip_names = {}
    if clip_checkpoint is not None:
        from jaxconcepts.features._clip import load_clip

        clip = load_clip(clip_model, checkpoint=clip_checkpoint)
        clip_names = {at.method: clip_concept_names(at, load_image, clip, grid=grid,
                                                    scale=clip_scale, n_words=n_words)
                      for at in atlases}
    return atlases, clip_names


def atlas_markdown(atlases: Sequence[AtlasData], *, figures: dict, recipes: dict,
                   gate_threshold: float, dataset: str, clip_names: dict | None = None) -> str:
    """The atlas section of the report: per method, its figures (``figures[(method, "atlas" |
    "gates")]``: file names), a table of the drawn concepts (label, top words, classes using it,
    CLIP words when ``clip_names[method]`` holds G word lists) and its per-class recipes
    (``recipes[method]``: Markdown, e.g. :func:`jaxconcepts.viz.recipe_table`)."""
    title = {"c2mf": "C2MF (shared dictionary, gated)", "craft": "CRAFT (per-class NMF)",
             "pca": "PCA (per class)"}
    lines = [f"## Concept atlas ({dataset})", "",
             "How people read a dictionary (CRAFT's and Lens's concept pages): per concept, the "
             "images where its code peaks with the code map over them, its name and the classes "
             "that use it. Names: the top patches of the concept (highest codes, at most "
             "`naming.per_image` per image) read through the classifier's head; the words are the "
             "classifier's own classes with their mean softmax (App. E offline; with a model "
             "trained on its own classes the word says which class a concept evokes, not what it "
             "depicts). Usage: C2MF's gates σ(λ_y); for the per-class baselines the mean |code| "
             "per class relative to the class's largest (block-diagonal by construction: their "
             f"concepts are not shared). A class uses a concept when usage ≥ {gate_threshold}.",
             ""]
    for at in atlases:
        clip = (clip_names or {}).get(at.method)
        lines += [f"### {title[at.method]}, k = {at.k}", ""]
        for key, cap in (("atlas", "concept atlas"), ("gates", "class × concept usage")):
            if (at.method, key) in figures:
                lines += [f"![{at.method} {cap}]({figures[(at.method, key)]})", ""]
        lines += ["| concept | top words (mean softmax) | classes using it (usage) |"
                  + (" CLIP words |" if clip else ""), "|---|---|---|" + ("---|" if clip else "")]
        for j in at.order:
            words = ", ".join(f"{w} ({s:.2f})" for w, s in at.names[j].words)
            users = [(at.class_names[c], at.usage[c, j]) for c in np.argsort(-at.usage[:, j])
                     if at.usage[c, j] >= gate_threshold]
            used = ", ".join(f"{c} ({g:.2f})" for c, g in users) or "none"
            row = f"| {at.labels[j]} | {words} | {used} |"
            if clip:
                row += " " + ", ".join(f"{w} ({s:.2f})" for w, s in clip[j]) + " |"
            lines.append(row)
        if at.method in recipes:
            lines += ["", "**Recipes** (per class, the concepts it uses, largest first):", "",
                      recipes[at.method].rstrip()]
        lines.append("")
    return "\n".join(lines)
