"""What the concept atlas of a fitted dictionary shows: codes, usage, names.

For one fitted model of the C2MF suite (C2MF, CRAFT or PCA, one k) and every image of the kept
classes, :func:`atlas_data` computes

- each image's spatial code map per concept, ``(N, G, h, w)``;
- a class × concept **usage** matrix ``(Y, G)``: C2MF's gates σ(λ_y); for the per-class
  dictionaries (CRAFT, PCA) the mean |code| of the class's rows, divided by the class's largest,
  so that the same threshold reads "a concept this class leans on";
- the concepts' names in the classifier's label space (:func:`~._naming.name_concepts`): the
  head's outputs, even when the classes of the usage matrix are folder classes that are not;
- which concepts an atlas should draw (``max_concepts``): C2MF's most shared first (number of
  classes whose gate is open, then mean gate), the baselines' most used first;
- on the ``objects`` benchmark, each method's **name accuracy** (:func:`objects_name_accuracy`):
  does each class's top concept (:func:`top_concepts`) carry a name that is one of the ImageNet
  synsets accepted for the object?

Concepts: C2MF has one shared dictionary, so G = k; so has an SAE (``topk``, ``batchtopk``, …:
shared, without gates), whose usage of concept j by class y is its mean code over the class's
rows divided by the class's largest (as the baselines' usage). CRAFT and PCA fit one dictionary
per class:
their concept ``j`` of class ``y`` is unrelated to concept ``j`` of another class, so they get
G = Y·k concepts named ``<class>/<j>``, each coded only on its own class's rows (zero elsewhere);
their usage matrix is block-diagonal by construction, which is the point of the comparison.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from jaxconcepts.evaluation.c2mf._sae_adapter import SAE_METHODS
from jaxconcepts.evaluation.c2mf._naming import ConceptName, name_accuracy, name_concepts
from jaxconcepts.evaluation._image_split import SplitRowsView, fitted_classes

__all__ = ["AtlasData", "all_codes", "atlas_data", "atlas_arrays",
           "clip_concept_names",
           "fitted_atlases",
           "top_concepts", "objects_name_accuracy", "TOP_CONCEPT"]

#: How :func:`top_concepts` picks a class's concept (written beside the numbers).
TOP_CONCEPT = ("among the concepts a class uses (usage >= the gate threshold: C2MF's open "
               "gates σ(λ_y); for CRAFT / PCA the class's own concepts), the one with "
               "the largest mean |code| over the class's atlas images and positions (C2MF: code × "
               "σ(λ_y), the atlas's code maps); its name: the naming's words for it (head outputs "
               "by mean softmax of its top patches)")


class AtlasData(NamedTuple):
    """method, k; images: (N,) store row positions; y_img: (N,) fitted class of each image;
    code_maps: (N, G, h, w); usage: (Y, G); labels: G concept labels; names: G ConceptName;
    order: the concepts to draw; class_names: Y names; shared: True for one dictionary of every
    class (C2MF, whose usage is its gates; the SAEs, whose usage is the mean code)."""

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


def _shared(method: str) -> bool:
    """One dictionary for every class: C2MF and the SAEs."""
    return method == "c2mf" or method in SAE_METHODS


def _codes(model, method: str, A: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, G) codes of rows ``A`` of fitted classes ``y`` (module docstring)."""
    U = np.asarray(model.transform(A, y), np.float32)
    if method == "c2mf":
        return U * np.asarray(model.gates, np.float32)[y]
    if method in SAE_METHODS:
        return U
    k = U.shape[1]
    full = np.zeros((U.shape[0], n_classes * k), np.float32)
    cols = y[:, None] * k + np.arange(k)[None]
    np.put_along_axis(full, cols, U, axis=1)
    return full


def atlas_data(model, method: str, view: SplitRowsView, head, *, label_names: Sequence[str],
               class_names: Sequence[str], grid: tuple[int, int], gate_threshold: float,
               max_concepts: int, top: int, per_image: int, n_words: int,
               batch_images: int, max_images: int, seed: int = 0) -> AtlasData:
    """Codes, usage, names and drawing order of one fitted model (module docstring).

    Args:
        model: a fitted C2MF / Craft / PCABaseline / SAE adapter (``transform(A, y)``; C2MF:
            ``gates``).
        method: ``"c2mf"``, ``"craft"``, ``"pca"`` or an SAE of
            :data:`~jaxconcepts.evaluation.c2mf._sae_adapter.SAE_METHODS`.
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
    valid = ["c2mf", "craft", "pca", *SAE_METHODS]
    if method not in valid:
        raise ValueError(f"method={method!r}; valid choices: {valid}")
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
    shared = _shared(method)
    k = G if shared else G // Y
    h, w = grid
    code_maps = codes.reshape(imgs.size, h, w, G).transpose(0, 3, 1, 2)
    if method == "c2mf":
        usage = np.asarray(model.gates, np.float64)
    else:
        y_rows = np.repeat(y_img, p)
        raw = np.stack([np.abs(codes[y_rows == c]).mean(0) if np.any(y_rows == c)
                        else np.zeros(G, codes.dtype) for c in range(Y)])  # (Y, G)
        top_c = raw.max(1, keepdims=True)
        usage = np.where(top_c > 0, raw / np.where(top_c > 0, top_c, 1.0), 0.0)
    if shared:  # most shared first, then by mean usage
        labels = [f"C{j}" for j in range(G)]
        score = (usage >= gate_threshold).sum(0) + usage.mean(0) / 2
    else:
        labels = [f"{class_names[j // k]}/{j % k}" for j in range(G)]
        score = raw.max(0)
    order = [int(j) for j in np.argsort(-score, kind="stable")[:max_concepts]]
    names = name_concepts(A_all.reshape(-1, view.c), codes, head,
                          label_names=label_names, top=min(top, codes.shape[0]),
                          n_words=min(n_words, len(label_names)),
                          groups=np.repeat(np.arange(imgs.size), p), per_group=per_image)
    return AtlasData(method, k, imgs, y_img, code_maps, usage, labels, names, order,
                     [str(c) for c in class_names], shared)


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
        fits: :class:`~jaxconcepts.runners.C2MFFits`; store: the activation store
            (head, manifest class names, grid); class_names: the Y fitted (C2MF) classes'
            names, which need not be the head's outputs (the words come from
            :func:`~jaxconcepts.store.head_label_space`);
            load_image: store row position -> the image as the model saw it (CLIP only).

    Returns:
        ``(atlases, clip_names)``: a list of :class:`AtlasData` and ``{method: {concept: words}}``
        (empty without CLIP).
    """
    from jaxconcepts.store import head_label_space

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


def all_codes(model, method: str, view: SplitRowsView, *, grid: tuple[int, int],
              batch_images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every fitted image's own codes, streamed from the store (the concept explorer codes every
    image, the atlas only a sample): ``(images (N,) store rows, y (N,) fitted class, codes
    (N, k, h, w) float16)``; C2MF's codes are gated (code × σ(λ_y), as the atlas'), an SAE's are
    its k latents, CRAFT's and PCA's are the image's class's k concepts."""
    split = view.split
    imgs = np.sort(np.concatenate([split.train, split.test]))
    y_all = fitted_classes(split, view.data.cls[imgs])
    h, w = grid
    out, s = [], 0
    for pos, A in view.blocks(imgs, batch_images):
        m = len(pos)
        y = np.repeat(y_all[s:s + m], view.p)
        s += m
        U = np.asarray(model.transform(A.reshape(-1, view.c), y), np.float32)
        if method == "c2mf":
            U = U * np.asarray(model.gates, np.float32)[y]
        out.append(U.reshape(m, h, w, -1).transpose(0, 3, 1, 2).astype(np.float16))
    return imgs, y_all, np.concatenate(out)


def atlas_arrays(atlases: Sequence[AtlasData], every: Mapping[str, tuple] | None = None
                 ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The atlases as safetensors arrays and string metadata (``data/<ds>/c2mf/atlas.safetensors``,
    read back by :func:`jaxconcepts.explorer.dictionary_codes` for the concept explorer).

    Per method ``m``: ``{m}_images`` int32 (N,) store row positions, ``{m}_y`` int32 (N,) fitted
    class, ``{m}_codes`` float32 (N, k, h, w) the image's own codes (C2MF: all G = k concepts,
    gated; CRAFT / PCA: the k concepts of the image's class, whose concept ids are y·k + j: the
    others are zero by construction), ``{m}_usage`` float32 (Y, G); with ``every`` (method ->
    :func:`all_codes`), ``{m}_all_images``, ``{m}_all_y``, ``{m}_all_codes`` (float16) for every
    fitted image. Metadata ``atlas``: JSON with per method k, labels, order, shared, class names
    and each concept's words and mean code.
    """
    arrays, meta = {}, {}
    for m, (imgs, y, codes) in (every or {}).items():
        arrays[f"{m}_all_images"] = np.asarray(imgs, np.int32)
        arrays[f"{m}_all_y"] = np.asarray(y, np.int32)
        arrays[f"{m}_all_codes"] = np.asarray(codes, np.float16)
    for at in atlases:
        m, k = at.method, at.k
        if at.shared:
            own = at.code_maps
        else:
            cols = at.y_img[:, None] * k + np.arange(k)[None]
            own = np.take_along_axis(at.code_maps, cols[:, :, None, None], axis=1)
        arrays[f"{m}_images"] = np.asarray(at.images, np.int32)
        arrays[f"{m}_y"] = np.asarray(at.y_img, np.int32)
        arrays[f"{m}_codes"] = np.asarray(own, np.float32)
        arrays[f"{m}_usage"] = np.asarray(at.usage, np.float32)
        meta[m] = {"k": int(k), "labels": list(at.labels), "order": [int(j) for j in at.order],
                   "shared": bool(at.shared), "class_names": list(at.class_names),
                   "names": [{"words": [[str(w), float(p)] for w, p in n.words],
                              "mean_code": float(n.mean_code),
                              "outputs": [int(o) for o in n.outputs]} for n in at.names]}
    return arrays, {"atlas": json.dumps(meta, sort_keys=True)}


def top_concepts(at: AtlasData, *, gate_threshold: float) -> list[int | None]:
    """Per fitted class, its top concept (:data:`TOP_CONCEPT`), or None when the class uses no
    concept (no open gate) or has no image in the atlas.

    The largest mean |code| rather than the largest gate: C2MF's gates saturate near 1 for many
    concepts of a class, while the gated code says how much of the class's activations the concept
    carries. For the per-class baselines it is the class's most used concept (usage 1).
    """
    strength = np.abs(at.code_maps).mean((2, 3))  # (N, G)
    out: list[int | None] = []
    for c in range(len(at.class_names)):
        sel, used = at.y_img == c, at.usage[c] >= gate_threshold
        if not sel.any() or not used.any():
            out.append(None)
            continue
        score = np.where(used, strength[sel].mean(0), -np.inf)
        out.append(int(np.argmax(score)))
    return out


def _accepted_synsets(meta: Mapping) -> dict[str, list[str]]:
    """Fitted class name -> accepted synsets, from an objects truth's ``objects`` (by object name)
    and ``class_folders`` (the folder names, ``00_cat``, that a store's class names are)."""
    by_name = {str(o["class"]): list(o["wnids"]) for o in meta["objects"]}
    out = dict(by_name)
    for folder, cname in zip(meta.get("class_folders", []), meta.get("classes", [])):
        if str(cname) in by_name:
            out[str(folder)] = by_name[str(cname)]
    return out


def objects_name_accuracy(atlases: Sequence[AtlasData], meta: Mapping, *, n_outputs: int | None,
                          gate_threshold: float, top: int = 3) -> dict:
    """Name accuracy of each atlas on the ``objects`` benchmark (module docstring).

    For each fitted class that is an object with accepted synsets (``meta["objects"][i]["wnids"]``:
    its own ImageNet synset and hand-chosen WordNet neighbours), its top concept
    (:func:`top_concepts`) is a hit when the naming's first word (top-1) or one of its first
    ``top`` words is one of those synsets, compared as ImageNet-1k head outputs
    (:func:`~jaxconcepts.evaluation.c2mf._naming.name_accuracy`).

    Args:
        atlases: the :class:`AtlasData` of the methods (their ``class_names`` are the fitted
            classes: the objects' folder names); none gives a note and no numbers.
        meta: the objects truth's ``truth.json`` (:attr:`PlantedTruth.meta`).
        n_outputs: the head's number of outputs (None: unknown); the synsets are ImageNet-1k's,
            so a head with another number of outputs gets a note and no numbers.
        top: the ranked-list cut (capped at the naming's number of words).

    Returns:
        ``{"top_concept": TOP_CONCEPT, "note": str | None, "unmatched": [fitted classes that are
        no object of the truth, left out], "methods": {method: {"k", "top1", "top<top>",
        "per_class"}}}``; per class also its ``concept`` label (None without one).

    Raises:
        ValueError: an accepted synset is not an ImageNet-1k class.
    """
    out = {"top_concept": TOP_CONCEPT, "note": None, "unmatched": [], "methods": {}}
    if not atlases:
        out["note"] = ("no atlas (c2mf.atlas_k is null, nothing was fitted, or h is not GAP + "
                       "linear): no names to check")
        return out
    if n_outputs != 1000:
        out["note"] = (f"the head has {n_outputs} outputs: the objects' accepted synsets are "
                       "ImageNet-1k classes, so names cannot be checked")
        return out
    from jaxconcepts.store import imagenet_lemmas, imagenet_synsets

    index = {w: i for i, w in enumerate(imagenet_synsets())}
    words = [ls[0] for ls in imagenet_lemmas()]
    wnids = _accepted_synsets(meta)
    unknown = sorted({w for ws in wnids.values() for w in ws} - set(index))
    if unknown:
        raise ValueError(f"accepted synsets {unknown} of the objects truth are not ImageNet-1k "
                         "classes")
    for at in atlases:
        out["unmatched"] = [c for c in at.class_names if c not in wnids]
        tops = top_concepts(at, gate_threshold=gate_threshold)
        names = [None if j is None else at.names[j].outputs for j in tops]
        cut = max(1, min(int(top), len(at.names[0].outputs) if at.names else 1))
        res = name_accuracy(names, [[index[w] for w in wnids.get(c, [])] for c in at.class_names],
                            class_names=at.class_names, n_outputs=1000, top=cut, words=words)
        for rec, j in zip(res["per_class"], tops):
            rec["concept"] = None if j is None else at.labels[j]
        out["methods"][at.method] = {"k": at.k, **res}
    if out["unmatched"]:
        out["note"] = (f"fitted classes {out['unmatched']} are no object of the truth (c2mf.labels "
                       "should be label: the object folders); they are left out")
    return out
