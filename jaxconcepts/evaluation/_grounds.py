"""The methods' scoreboard on image grounds: planted parts and the real-photo objects.

Every concept method (the SAEs of :mod:`jaxconcepts.sae`; C2MF, CRAFT's NMF on full-image rows and
the PCA baseline of the C2MF paper's suite; SemiNMF and the k-means dictionary) is fitted,
streamed, on the train images of a store split as the C2MF suite splits it
(:func:`~jaxconcepts.evaluation._image_split.split_by_image`), once per
setting and seed, and scored on the test images whose ground truth is known:

- **R²** of the reconstruction of the test rows (``1 − Σ‖a − â‖² / Σ‖a − ā‖²``, ``ā`` the test
  rows' mean; per-class methods reconstruct each row with its class's dictionary);
- **localisation** (:func:`~jaxconcepts.evaluation.c2mf._planted.planted_scores`): each
  concept's code map correlated with every part (planted) or object (objects) mask on the feature
  grid; the share of classes whose concepts reach corr ≥ 0.3, the recipe's precision / recall;
  **Coverage@τ** (:mod:`~jaxconcepts.evaluation._localisation`: saev's class coverage with IoU of
  binarised code maps in place of average precision), the share of parts / objects whose best
  concept reaches IoU ≥ τ (0.3, 0.5), and their mean best IoU;
- **importance against the known parts** (GAP + linear heads only): per class, the concept whose
  removal lowers the class's logit most (Eq. 3 in closed form: ``ū_j (e_j W_y) Hᵀ``, ``e_j W_y``
  the concept's contribution to the reconstruction) is a *hit* when its code map localises a part
  of the class's recipe (corr ≥ 0.3 with that part, its best part); ``importance_hit`` is the
  share of classes with a hit;
- **against chance**: the same scores of the method's random counterpart (SAEs: the same SAE with a
  frozen random decoder, trained encoder — the archetypal SAE's is a TopK SAE of its width and k,
  since its atoms cannot be frozen; C2MF / CRAFT / PCA: random atoms of their shape, codes solved,
  as the suite's controls; SemiNMF / k-means: random unit atoms, codes by the model's own rule)
  on every seed, and a paired 95 % interval of the difference;
- **stability**: PW-MCC (mean matched |cos|) and the share of atoms found again at |cos| ≥ 0.9
  between every pair of seeds' dictionaries (per-class dictionaries pooled: ``Y·k`` atoms);
- **dead latents** (SAEs: not fired on the last training rows).

Each fit's scores and atoms are kept under ``runs_dir`` (one file per method, setting and seed), so
a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from jaxconcepts.evaluation.c2mf._sae_adapter import SAE_METHODS

__all__ = ["SAE_METHODS", "DICT_METHODS", "STREAMED_DICTS", "GROUND_METHODS", "reconstruction_r2",
           "part_correlations", "importance_hits", "fit_ground_model", "random_counterpart",
           "score_model", "image_ground"]

DICT_METHODS = ("c2mf", "craft", "pca")
STREAMED_DICTS = ("seminmf", "kmeans")  # jaxconcepts.sae's, streamed; not in the C2MF suite
GROUND_METHODS = SAE_METHODS + DICT_METHODS + STREAMED_DICTS
_MATCH = 0.3  # planted_scores' correlation threshold for an atom to localise a part


def reconstruction_r2(model, view, *, batch_images: int) -> float:
    """R² of ``model``'s reconstruction of the view's test rows (streamed; module docstring)."""
    C = view.c
    n = 0
    s1 = np.zeros(C, np.float64)
    s2 = sse = 0.0
    for b in view.test_batches(batch_images):
        A = np.asarray(b.A[:b.n], np.float32).reshape(-1, C)
        y = np.repeat(b.y[:b.n], view.p)
        R = np.asarray(model.reconstruct(model.transform(A, y), y), np.float64)
        sse += float(np.sum((A - R) ** 2))
        s1 += A.sum(0)
        s2 += float(np.sum(A.astype(np.float64) ** 2))
        n += A.shape[0]
    sst = s2 - float(s1 @ s1) / max(n, 1)
    return float(1.0 - sse / sst) if sst > 0 else float("nan")


def part_correlations(U: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``(k, P)`` Pearson correlation of each concept's codes ``U`` ``(B, p, k)`` with each part's
    mask ``masks`` ``(B, P, p)``, over images × positions (0 where either is constant)."""
    k, P = U.shape[-1], masks.shape[1]
    u = U.transpose(2, 0, 1).reshape(k, -1).astype(np.float64)
    m = masks.transpose(1, 0, 2).reshape(P, -1).astype(np.float64)
    uc, mc = u - u.mean(1, keepdims=True), m - m.mean(1, keepdims=True)
    den = np.linalg.norm(uc, axis=1)[:, None] * np.linalg.norm(mc, axis=1)[None]
    return np.where(den > 0, uc @ mc.T / np.where(den > 0, den, 1.0), 0.0)


def _grid_masks(part_map: np.ndarray, n_parts: int, H: int, W: int) -> np.ndarray:
    """``(B, P, H·W)``: the share of each grid cell covered by each part."""
    Hi, Wi = part_map.shape[1:]
    m = np.stack([(part_map == q) for q in range(n_parts)], 1).astype(np.float32)
    m = m[:, :, : Hi // H * H, : Wi // W * W]
    m = m.reshape(m.shape[0], n_parts, H, Hi // H, W, Wi // W).mean((3, 5))
    return m.reshape(m.shape[0], n_parts, H * W)


def _test_truth(truth, store_images, view):
    """Rows of the truth for the view's test images, and which of them keep their true class."""
    from jaxconcepts.evaluation._truth import match_rows

    test = view.split.test
    images = [store_images[int(i)] for i in view.data.index[test]]
    rows = match_rows(images, truth.files)
    ok = np.asarray(truth.label)[rows] == view.data.cls[test]
    return rows, ok


def _contributions(model, j: int, k: int, C: int) -> np.ndarray:
    """``(k, C)``: each concept's contribution to the reconstruction per unit code, class ``j``
    (``R(e_i) − R(0)``: the method's reconstruction is affine in the codes)."""
    y = np.full(k + 1, j, np.int32)
    E = np.concatenate([np.eye(k, dtype=np.float32), np.zeros((1, k), np.float32)])
    R = np.asarray(model.reconstruct(E, y), np.float64)
    return R[:k] - R[k]


def importance_hits(model, view, truth, store_images, head, *, batch_images: int) -> dict | None:
    """Per class, does the most important concept (module docstring) localise a recipe part?

    ``head``: the store's GAP + linear head (``store.head``); ``None`` → ``None`` (Eq. 3 in closed
    form needs a linear h). Returns ``{"importance_hit", "n_classes", "hits"}`` or ``None`` when no
    test image has its true class."""
    if head is None:
        return None
    rows, ok = _test_truth(truth, store_images, view)
    if not ok.any():
        return None
    C, P = view.c, len(truth.part_names)
    H = int(round(np.sqrt(view.p)))
    W = view.p // H
    masks = _grid_masks(np.asarray(truth.part_map)[rows][ok], P, H, W)
    U = np.concatenate([
        np.asarray(model.transform(b.A.reshape(-1, C), np.repeat(b.y, view.p)))
        .reshape(b.A.shape[0], view.p, -1)[:b.n] for b in view.test_batches(batch_images)])[ok]
    y_img, outs = view.y_img_test[ok], view.head_outputs()
    weight = np.asarray(head.weight, np.float64)
    recipes = [set(r) for r in truth.meta["recipes"]]
    hits = {}
    for j, cl in enumerate(view.split.classes):
        sel = y_img == j
        if not sel.any() or cl >= len(recipes):
            continue
        k = U.shape[-1]
        corr = part_correlations(U[sel], masks[sel])
        ubar = U[sel].mean((0, 1)).astype(np.float64)
        drop = ubar * (_contributions(model, j, k, C) @ weight[int(outs[j])])
        top = int(np.argmax(drop))
        hits[int(cl)] = bool(corr[top].max() >= _MATCH and int(corr[top].argmax()) in
                             recipes[int(cl)])
    if not hits:
        return None
    return {"importance_hit": float(np.mean(list(hits.values()))), "n_classes": len(hits),
            "hits": {str(c): h for c, h in hits.items()}}


def fit_ground_model(method: str, view, knob, seed: int, *, settings: Mapping,
                     stream_kw: Mapping, random: bool = False):
    """Fit ``method`` at ``knob`` (an SAE's active latents, JumpReLU's sparsity coefficient, or
    C2MF / CRAFT / PCA's dictionary size) with ``seed``, streamed on the view's train images by
    the C2MF suite's :func:`~jaxconcepts.evaluation.c2mf._fit_evaluate.fit_streamed` (an SAE's
    width is ``settings["sae_width"]``, one Adam step per ``settings["sae_images_per_batch"]``
    images); ``random``: its random counterpart (module docstring)."""
    from jaxconcepts.evaluation.c2mf._fit_evaluate import fit_streamed

    key = jax.random.fold_in(jax.random.key(int(seed)), 7919)
    kw = dict(stream_kw)
    if method in SAE_METHODS:
        kw.update(sae_epochs=int(settings["sae_epochs"]),
                  sae_learning_rate=float(settings["sae_learning_rate"]),
                  images_per_batch=int(settings["sae_images_per_batch"]))
        if method == "jumprelu":
            kw["sae_sparsity"] = float(knob)
        else:
            kw["sae_active"] = int(knob)
        return fit_streamed(method, view, int(settings["sae_width"]), key=key,
                            random_decoder=random, **kw)
    if method in STREAMED_DICTS:
        return _streamed_dictionary(method, view, int(knob), key, seed, kw, random)
    model = fit_streamed(method, view, int(knob), key=key, crops=None, **kw)
    return random_counterpart(model, seed) if random else model


def _streamed_dictionary(method, view, k, key, seed, kw, random):
    """SemiNMF or the k-means dictionary streamed on the train rows; ``random``: the fitted
    model with random unit atoms in place of its own (k-means: scaled to the centroids' norms;
    codes solved by the model's own rule)."""
    import equinox as eqx
    import jax.numpy as jnp

    from jaxconcepts.sae import (fit_kmeans_dictionary_streamed, fit_seminmf_streamed,
                                 random_directions)

    rows = view.stream("train", int(kw["images_per_batch"]))
    fit = fit_seminmf_streamed if method == "seminmf" else fit_kmeans_dictionary_streamed
    model = fit(rows, k, key=key, init_rows=int(kw["init_rows"]))
    if not random:
        return model
    R = jnp.asarray(random_directions(k, view.c, seed=int(seed)))
    if method == "seminmf":
        return eqx.tree_at(lambda m: m.W, model, R)
    norms = jnp.linalg.norm(model.centroids, axis=1, keepdims=True)
    return eqx.tree_at(lambda m: m.centroids, model, R * norms)


def random_counterpart(model, seed: int):
    """C2MF / CRAFT / PCA: random atoms of the model's shape (the suite's controls)."""
    from jaxconcepts.concepts._controls import random_dictionary

    return random_dictionary(model, key=jax.random.fold_in(jax.random.key(int(seed)), 104729))


def _atoms(model) -> np.ndarray:
    W = np.asarray(model.W if hasattr(model, "n_dead") else model.concepts, np.float32)
    W = W.reshape(-1, W.shape[-1])
    return W[np.linalg.norm(W, axis=1) > 0]


def score_model(model, view, truth, store, *, batch_images: int) -> dict:
    """R², localisation and importance hits of one fitted model (module docstring)."""
    from jaxconcepts.evaluation.c2mf._planted import planted_scores

    out: dict[str, Any] = {"r2": reconstruction_r2(model, view, batch_images=batch_images)}
    loc = planted_scores(truth, store.images, store.shape, view,
                         {"m": {"x": {"model": model}}}, batch_images=batch_images)
    sc = dict((loc or {}).get("results", {}).get("m", {}).get("x", {}))
    cov = sc.pop("coverage", None) or {}
    best = sc.pop("best_iou", None) or {}
    sc.pop("best_concept", None)
    out.update((k, v) for k, v in sc.items() if not isinstance(v, dict | list))
    for tau, share in cov.items():
        out[f"coverage@{tau}"] = share
    out["mean_best_iou"] = float(np.mean(list(best.values()))) if best else None
    imp = importance_hits(model, view, truth, store.images, store.head,
                          batch_images=batch_images)
    out["importance_hit"] = None if imp is None else imp["importance_hit"]
    n_dead = getattr(model, "n_dead", None)
    out["dead"] = None if n_dead is None else int(n_dead)
    return out


def _run_file(runs_dir: Path, method: str, knob, seed: int, random: bool,
              settings: Mapping) -> Path:
    """The kept fit of one method, setting and seed (SAEs: keyed by their settings too)."""
    sae = ""
    if method in SAE_METHODS:
        key = json.dumps(dict(settings), sort_keys=True).encode()
        sae = "-" + hashlib.sha1(key).hexdigest()[:8]
    return runs_dir / f"{method}-{knob:g}-s{int(seed)}{'-random' if random else ''}{sae}.npz"


def _fit_and_score(method, knob, seed, random, *, view, truth, store, settings, stream_kw,
                   runs_dir: Path, batch_images: int) -> tuple[dict, np.ndarray]:
    """One fit's scores and atoms, read back from ``runs_dir`` when an earlier run kept them."""
    from jaxconcepts._io import atomic_path

    path = _run_file(runs_dir, method, knob, seed, random, settings)
    if path.is_file():
        with np.load(path) as z:
            return json.loads(str(z["scores"])), z["atoms"]
    model = fit_ground_model(method, view, knob, seed, settings=settings, stream_kw=stream_kw,
                             random=random)
    scores = score_model(model, view, truth, store, batch_images=batch_images)
    atoms = _atoms(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, scores=json.dumps(scores), atoms=atoms)
    return scores, atoms


def _summary(fits: list[dict], rand: list[dict], atoms: list[np.ndarray]) -> dict:
    from jaxconcepts.sae import paired_interval, stability

    def mean(rows, key):
        v = [r[key] for r in rows if r.get(key) is not None]
        return float(np.mean(v)) if v else None

    keys = ("r2", "mean_best_corr", "matched_fraction", "precision", "recall",
            "coverage@0.3", "coverage@0.5", "mean_best_iou", "importance_hit", "dead")
    out = {k: mean(fits, k) for k in keys}
    out["random"] = {k: mean(rand, k) for k in keys if k != "dead"}
    vs = {}
    for key in ("mean_best_corr", "mean_best_iou", "importance_hit"):
        a = [r.get(key) for r in fits]
        b = [r.get(key) for r in rand]
        if all(x is not None for x in a + b):
            vs[key] = {f: v for f, v in paired_interval(a, b).items() if f != "differences"}
    out["vs_random"] = vs
    out["stability"] = stability(atoms)
    out["per_seed"] = fits
    return out


def image_ground(store, truth, view, *, methods: Sequence[str], knobs: Mapping[str, Sequence],
                 seeds: Sequence[int], settings: Mapping, stream_kw: Mapping, runs_dir,
                 batch_images: int = 16, progress: bool = True) -> dict:
    """Every method at each of its ``knobs[method]`` settings over ``seeds`` (module docstring).

    Returns ``{"rows": [...]}``: one row per (method, setting) with the seeds' mean scores, the
    random counterpart's, the paired intervals and the stability. ``runs_dir`` keeps each fit
    (keyed by a hash of ``stream_kw`` and the train images, an SAE's by ``settings`` too)."""
    from tqdm.auto import tqdm

    bad = [m for m in methods if m not in GROUND_METHODS]
    if bad:
        raise ValueError(f"methods {bad} unknown; valid choices: {list(GROUND_METHODS)}")
    if len(set(int(s) for s in seeds)) < 2:
        raise ValueError(f"seeds={list(seeds)}: stability and intervals need >= 2 seeds")
    tag = hashlib.sha1(json.dumps(dict(stream_kw), sort_keys=True, default=str).encode()
                       + np.asarray(view.split.train, np.int64).tobytes()).hexdigest()[:10]
    runs = Path(runs_dir) / tag
    plan = [(m, kn) for m in methods for kn in knobs[m]]
    rows = []
    bar = tqdm(total=len(plan) * len(seeds), desc="ground fits", disable=not progress)
    for m, kn in plan:
        fits, rand, atoms = [], [], []
        for s in seeds:
            bar.set_postfix_str(f"{m} {kn:g} seed {s}")
            kw = dict(view=view, truth=truth, store=store, settings=settings,
                      stream_kw=stream_kw, runs_dir=runs, batch_images=batch_images)
            sc, W = _fit_and_score(m, kn, s, False, **kw)
            fits.append(sc)
            atoms.append(W)
            rand.append(_fit_and_score(m, kn, s, True, **kw)[0])
            bar.update()
        rows.append({"method": m, "knob": ("sparsity" if m == "jumprelu" else
                                           "k active" if m in SAE_METHODS else "k"),
                     "setting": kn, **_summary(fits, rand, atoms)})
    bar.close()
    return {"rows": rows, "seeds": [int(s) for s in seeds], "runs": str(runs)}
