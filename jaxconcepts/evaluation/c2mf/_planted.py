"""The C2MF suite's scores against planted ground truth: atoms vs parts, class concepts vs
recipes, and Coverage@τ (:func:`planted_scores`), for every fitted method and k.

The store's test images are matched to the truth files by
:func:`~jaxconcepts.evaluation._truth.match_rows`; the localisation metric is
:mod:`jaxconcepts.evaluation._localisation`'s. The recovery stage's scores of CGAP / CPHA concepts
are :mod:`jaxconcepts.evaluation.clustering`'s.
"""

from __future__ import annotations

import numpy as np

from jaxconcepts.evaluation._truth import match_rows

__all__ = ["planted_scores"]


def _test_codes(model, view, C: int, p: int, batch_images: int) -> np.ndarray:
    """``(B, p, k)`` the model's codes of the view's test images."""
    return np.concatenate([
        np.asarray(model.transform(b.A.reshape(-1, C), np.repeat(b.y, p)))
        .reshape(b.A.shape[0], p, -1)[:b.n] for b in view.test_batches(batch_images)])


def _recipe_scores(U, masks, y_img, classes, recipes, gates, *, threshold: float,
                   gate_threshold: float) -> dict | None:
    """Atoms vs parts and class concepts vs recipes of one fit (:func:`planted_scores`); None
    when no class has an image and a recipe. ``U`` ``(B, p, k)``, ``masks`` ``(B, P, p)``."""
    k, P = U.shape[-1], masks.shape[1]
    best_corr, prec, rec, n_active = [], [], [], []
    for j, cl in enumerate(classes):
        sel = y_img == j
        if not sel.any() or cl >= len(recipes):
            continue
        u = U[sel].transpose(2, 0, 1).reshape(k, -1)  # (k, B·p)
        m = masks[sel].transpose(1, 0, 2).reshape(P, -1)
        uc, mc = u - u.mean(1, keepdims=True), m - m.mean(1, keepdims=True)
        den = np.linalg.norm(uc, axis=1)[:, None] * np.linalg.norm(mc, axis=1)[None]
        corr = np.where(den > 0, uc @ mc.T / np.where(den > 0, den, 1.0), 0.0)  # (k, P)
        best = corr.max(1)
        part = corr.argmax(1)
        active = np.ones(k, bool) if gates is None else gates[j] >= gate_threshold
        n_active.append(int(active.sum()))
        found = {int(part[a]) for a in np.flatnonzero(active & (best >= threshold))}
        recipe = recipes[int(cl)]
        best_corr.append(best.mean())
        prec.append(len(found & recipe) / len(found) if found else 0.0)
        rec.append(len(found & recipe) / len(recipe))
    if not best_corr:
        return None
    return {"matched_fraction": float(np.mean(np.asarray(best_corr) >= threshold)),
            "mean_best_corr": float(np.mean(best_corr)),
            "precision": float(np.mean(prec)), "recall": float(np.mean(rec)),
            "n_active_mean": float(np.mean(n_active))}


def _coverage_scores(model, U, y_img, masks, names, n_classes: int) -> dict:
    """Coverage@τ of one fit (:mod:`._localisation`): a shared dictionary's concepts (every
    class's concepts the same: C2MF, with its gated codes as in the atlas; the SAEs) are mapped
    on every test image; a per-class dictionary's concept j of class y (CRAFT, PCA) on class y's
    images only, as its own concept."""
    from jaxconcepts.evaluation._localisation import concept_ious, coverage, per_class_maps

    concepts = np.asarray(model.concepts)
    if hasattr(model, "gates"):
        U = U * np.asarray(model.gates, U.dtype)[y_img][:, None, :]
    k = U.shape[-1]
    if np.array_equal(concepts, np.broadcast_to(concepts[:1], concepts.shape)):
        codes, defined, labels = U, None, [f"C{j}" for j in range(k)]
    else:
        codes, defined = per_class_maps(U, y_img, n_classes)
        labels = [f"{y}/{j}" for y in range(n_classes) for j in range(k)]
    return coverage(concept_ious(codes, masks, defined), class_names=names,
                    concept_labels=labels)


def planted_scores(truth, store_images: list[dict], shape, view, fitted: dict, *,
                   batch_images: int, threshold: float = 0.3,
                   gate_threshold: float = 0.5) -> dict | None:
    """Atoms vs planted parts, class concepts vs recipes and Coverage@τ; ``None`` without ground
    truth.

    ``truth``: the planted ground truth of the store's split (``datasets.load_truth``; on the
    objects benchmark the objects are the parts); ``store_images``: the store's image records;
    ``shape``: its ``(C, H, W)``; ``view``: the
    :class:`~jaxconcepts.evaluation.SplitRowsView` the models were evaluated on, read
    ``batch_images`` test images at a time (only the ``(p, k)`` code maps are kept). For each
    method and k, on the test images that have ground truth: every concept's code map (H×W) is
    correlated (Pearson, over images × positions) with each part's mask averaged to H×W; an atom
    *matches* the part of highest correlation if it reaches ``threshold``. A class's concepts are
    C2MF's atoms with gate σ(λ_y) ≥ ``gate_threshold`` (the stage's ``c2mf.gate_threshold``), or
    all k of the class for the per-class baselines and the SAEs; the parts they match are scored
    against the class recipe (precision / recall, mean over classes; ``n_active_mean``: the mean
    number of a class's concepts). Images whose class is not the true label are skipped.
    **Coverage@τ** (:mod:`~jaxconcepts.evaluation._localisation`, saev's class coverage with the
    IoU of binarised code maps): per part (object), the best IoU over the concepts on the H×W
    grid; ``coverage`` the share of the parts present whose best IoU is ≥ τ.
    """
    from jaxconcepts.evaluation._localisation import MAP_FRACTION, MASK_COVERAGE

    data, split = view.data, view.split
    test = split.test
    images = [store_images[int(i)] for i in data.index[test]]
    rows = match_rows(images, truth.files)
    lab = np.asarray(truth.label)[rows]
    ok = lab == data.cls[test]
    if not ok.any():
        return None
    C, H, W = shape
    pm = np.asarray(truth.part_map)[rows][ok]  # (B, Hi, Wi)
    P = len(truth.part_names)
    Hi, Wi = pm.shape[1:]
    masks = np.stack([(pm == q) for q in range(P)], 1).astype(np.float32)  # (B, P, Hi, Wi)
    masks = masks[:, :, : Hi // H * H, : Wi // W * W]
    masks = masks.reshape(masks.shape[0], P, H, Hi // H, W, Wi // W).mean((3, 5))
    masks = masks.reshape(-1, P, H * W)
    recipes = [set(r) for r in truth.meta["recipes"]]
    y_img = view.y_img_test[ok]
    out = {}
    for method, per_k in fitted.items():
        out[method] = {}
        for kk, entry in per_k.items():
            model = entry["model"]
            U = _test_codes(model, view, C, H * W, batch_images)[ok]  # (B, p, k)
            gates = np.asarray(model.gates) if hasattr(model, "gates") else None
            sc = _recipe_scores(U, masks, y_img, split.classes, recipes, gates,
                                threshold=threshold, gate_threshold=gate_threshold)
            if sc is not None:
                out[method][kk] = {**sc, **_coverage_scores(model, U, y_img, masks,
                                                            truth.part_names, view.n_classes)}
    legend = (f"Per class (test images whose class is the true label): each concept's code map is "
              f"correlated with every part mask; parts matched by a class's active concepts "
              f"(C2MF: gate ≥ {gate_threshold:g}; baselines and SAEs: all k) with corr ≥ "
              f"{threshold} are compared with the recipe. 'atoms matched' is the share of classes "
              "whose mean best correlation reaches the threshold. Coverage@τ (saev's class "
              "coverage, arXiv 2511.17735, with IoU in place of its average precision): the "
              "share of the parts (objects) present in the test images whose best IoU over the "
              "concepts is ≥ τ, on the activation grid (not upsampled): a part's mask is the "
              f"cells it covers by ≥ {MASK_COVERAGE:g}, a concept's map the cells where its code "
              f"(C2MF: × gate) is > {MAP_FRACTION:g} × its largest over the test images "
              "(per-class CRAFT / PCA concepts: on their class's images only), one IoU over all "
              "test images; unlike saev the best concept is chosen on the scored images "
              "(optimistic), and absent parts are left out.")
    return {"results": out, "threshold": threshold, "gate_threshold": gate_threshold,
            "n_images": int(ok.sum()), "legend": legend}
