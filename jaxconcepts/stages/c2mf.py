"""Stage ``c2mf``: C2MF, CRAFT-style NMF and PCA concepts, evaluated as in the C2MF paper (§3.3).

Reads the activation store (``data/<ds>/activations``) and writes

- ``data/<ds>/c2mf/dictionaries.safetensors``: per method and k the dictionary
  (``c2mf_k{k}_W`` (k, c), ``c2mf_k{k}_gates`` (Y, k), ``craft_k{k}_W`` / ``pca_k{k}_W`` (Y, k, c),
  ``pca_k{k}_mean`` (Y, c)) and ``classes`` (Y,), the store class of each fitted class;
- ``reports/<ds>/c2mf.json``: DVC metrics (per method and k: insertion/deletion AUC with Grad-CAM
  and IG ranking, concept similarity, per-class reconstruction accuracy, consistency; the
  multi-class ablation; classes left out; the planted ground-truth scores when they exist);
- ``reports/<ds>/c2mf_loss.csv``: the C2MF objective per step for each k (DVC plot);
- ``reports/<ds>/c2mf.md``: Markdown tables in the layout of the paper's Tables 1–3.

Rows: every spatial position of every image, ``(B·H·W, C)``; the class of an image is the store's
``target`` (the predicted class unless extraction used labels), ``pred``, or ``label`` (falling back
to the prediction for unlabelled images), per ``c2mf.labels``. Images are split train/test per
class by image (seeded); classes with fewer than ``min_images`` images are reported and left out.
Kept classes are remapped to ``0..Y-1`` for fitting; ``classes`` keeps the mapping.

The CRAFT baseline is fitted as in CRAFT: per class, NMF of the spatially averaged activations of
random crops of the *train* images (``data/<ds>/crops``, written by the ``crops`` stage with the
torch model), with Sobol total indices as its own concept importance; its test codes are NNLS on
its W, like every method. ``craft_source: rows`` instead fits it on the full-image rows clipped at
0 (no crops stage needed). Figures 2–4 of the paper (insertion/deletion curves with Grad-CAM and
IG ranking; reconstruction accuracy vs number of concepts) go to ``reports/<ds>/c2mf_figures/``.

Everything is computed before anything is written: a NaN in the C2MF loss stops the stage with the
solver's error (naming the step) and leaves the previous outputs untouched.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts._io import save_arrays, write_json, write_text
from jaxconcepts.stages._common import REPORTS, dataset_dir, dataset_params, load_params, stage_parser

__all__ = [
    "DEFAULTS",
    "ImageRows",
    "Split",
    "load_image_rows",
    "load_crops",
    "split_by_image",
    "k_caps",
    "planted_scores",
    "run_c2mf",
    "main",
]

DEFAULTS: dict[str, Any] = {
    "k": [5, 10],
    "methods": ["c2mf", "craft", "pca"],
    "labels": "target",  # target | pred | label
    "test_fraction": 0.3,
    "min_images": 2,
    "cap_k": True,  # False: a k larger than the data support is an error
    "alpha": 1.0,
    "solver": "bcd",
    "max_steps": 500,
    "tol": 1.0e-5,
    "learning_rate": 0.05,
    "batch_size": None,
    "nmf_max_iter": 200,
    "ig_steps": 16,
    "eval_batch": 16,
    "ablation": True,
    "ablation_n": None,  # None → the k values fitted plus the number of classes
    "craft_source": "crops",  # crops (the crops stage) | rows (full-image rows clipped at 0)
    "sobol_designs": 32,
    "seed": None,  # None → the top-level seed
}
_METHODS = ("c2mf", "craft", "pca")
_LABELS = ("target", "pred", "label")
_CRAFT_SOURCES = ("crops", "rows")
FIGURES = "c2mf_figures"


class ImageRows(NamedTuple):
    """The store as per-image row blocks (N images, p = H·W positions, c channels)."""

    A: np.ndarray  # (N, p, c) float32
    cls: np.ndarray  # (N,) class of each image (store class space)
    label: np.ndarray  # (N,) -1 = unknown
    pred: np.ndarray  # (N,)
    index: np.ndarray  # (N,) store image ids


class Split(NamedTuple):
    """Train/test split by image; ``classes[j]`` is the store class fitted as class ``j``."""

    train: np.ndarray  # image positions
    test: np.ndarray
    classes: np.ndarray  # (Y,) kept store classes, sorted
    remap: dict  # store class -> 0..Y-1
    too_small: list  # [(store class, n_images)]


def fitted_classes(split: "Split", cls) -> np.ndarray:
    """Store classes → the fitted class ids ``0..Y-1`` (every class must be kept)."""
    return np.array([split.remap[int(c)] for c in np.asarray(cls)], np.int64)


class _Rows(NamedTuple):
    """Train and test rows, built once per run and shared by every model's evaluation."""

    A_tr: np.ndarray  # (n_train·p, c)
    y_tr: np.ndarray  # (n_train·p,) fitted class of each row
    A_te_img: np.ndarray  # (n_test, p, c)
    y_img_te: np.ndarray  # (n_test,)
    A_te: np.ndarray  # (n_test·p, c)
    y_te: np.ndarray  # (n_test·p,)


def _rows(data: "ImageRows", split: "Split") -> _Rows:
    p, c = data.A.shape[1:]
    y_img_tr = fitted_classes(split, data.cls[split.train])
    y_img_te = fitted_classes(split, data.cls[split.test])
    A_te_img = data.A[split.test]
    return _Rows(data.A[split.train].reshape(-1, c), np.repeat(y_img_tr, p), A_te_img, y_img_te,
                 A_te_img.reshape(-1, c), np.repeat(y_img_te, p))


def load_image_rows(store, *, labels: str = "target", batch_size: int = 64) -> ImageRows:
    """Stream the store into ``(N, H·W, C)`` row blocks and pick each image's class."""
    if labels not in _LABELS:
        raise ValueError(f"c2mf.labels={labels!r}; valid choices: {list(_LABELS)}")
    C, H, W = store.shape
    A = np.zeros((len(store), H * W, C), np.float32)
    fields = ("activations", "target", "label", "pred", "index")
    out = {f: [] for f in fields[1:]}
    i = 0
    for b in store.iter_batches(batch_size, fields=fields, as_jax=False):
        n = b["activations"].shape[0]
        A[i:i + n] = b["activations"].transpose(0, 2, 3, 1).reshape(n, H * W, C)
        for f in fields[1:]:
            out[f].append(b[f])
        i += n
    cat = {f: np.concatenate(v) if v else np.zeros(0, np.int32) for f, v in out.items()}
    if labels == "label":
        cls = np.where(cat["label"] >= 0, cat["label"], cat["pred"])
    else:
        cls = cat[labels]
    if not np.all(np.isfinite(A)):
        bad = int(np.flatnonzero(~np.isfinite(A).all(axis=(1, 2)))[0])
        raise ValueError(f"the activation store holds NaN/inf (first in image {int(cat['index'][bad])})")
    return ImageRows(A, cls.astype(np.int64), cat["label"], cat["pred"], cat["index"])


def load_crops(dataset: str, index: np.ndarray) -> np.ndarray:
    """``(N, n_crops, C)`` crop activations of the store images ``index`` (``crops`` stage)."""
    from jaxconcepts._io import load_arrays

    path = dataset_dir(dataset, "crops") / "crops.safetensors"
    if not path.is_file():
        raise FileNotFoundError(
            f"no crop activations at {str(path)!r}: run `jaxconcepts crops --dataset {dataset}` "
            "(or `dvc repro`), or set c2mf.craft_source: rows")
    a = load_arrays(path)
    pos = {int(i): j for j, i in enumerate(a["index"])}
    missing = [int(i) for i in index if int(i) not in pos]
    if missing:
        raise ValueError(f"{path} lacks images {missing[:5]} of the store (stale crops): re-run "
                         "the crops stage")
    crops = a["crops"][[pos[int(i)] for i in index]]
    if not np.all(np.isfinite(crops)):
        raise ValueError(f"{path} holds NaN/inf")
    return crops


def split_by_image(cls, *, test_fraction: float, min_images: int, seed: int) -> Split:
    """Seeded per-class split by image; classes with fewer than ``min_images`` images are set aside.

    Every kept class gets ``max(1, round(test_fraction · n))`` test images and at least one train
    image.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"c2mf.test_fraction={test_fraction} should be in (0, 1)")
    if min_images < 2:
        raise ValueError(f"c2mf.min_images={min_images} should be >= 2 (one train + one test image)")
    cls = np.asarray(cls)
    rng = np.random.default_rng(seed)
    train, test, kept, small = [], [], [], []
    for c in np.unique(cls):
        idx = np.flatnonzero(cls == c)
        if idx.size < min_images:
            small.append((int(c), int(idx.size)))
            continue
        idx = rng.permutation(idx)
        n_test = min(max(1, int(round(test_fraction * idx.size))), idx.size - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
        kept.append(int(c))
    cat = lambda v: np.sort(np.concatenate(v)) if v else np.zeros(0, np.int64)  # noqa: E731
    classes = np.asarray(kept, np.int64)
    return Split(cat(train), cat(test), classes, {c: j for j, c in enumerate(kept)}, small)


def k_caps(rows_per_class: np.ndarray, n_channels: int,
           craft_rows_per_class: np.ndarray | None = None) -> dict[str, int]:
    """Largest k each method supports: C2MF ``min(n, c)``, CRAFT ``min(min_y m_y, c)``, PCA
    ``min(min_y n_y − 1, c)`` (n_y = train rows of class y; m_y = CRAFT's rows, its crops, default
    n_y)."""
    n_min = int(rows_per_class.min()) if rows_per_class.size else 0
    cr = rows_per_class if craft_rows_per_class is None else craft_rows_per_class
    m_min = int(cr.min()) if cr.size else 0
    return {"c2mf": min(int(rows_per_class.sum()), n_channels),
            "craft": min(m_min, n_channels),
            "pca": min(n_min - 1, n_channels)}


# --------------------------------------------------------------------------------------------
# fitting and evaluation of one model


def _head_fn(head):
    Wh, bh = jnp.asarray(head.weight), jnp.asarray(head.bias)
    return lambda rows: rows.mean(0) @ Wh.T + bh


class _Shared(NamedTuple):
    """A dictionary shared by all classes (the clustered-baseline ablation).

    Codes by NNLS (``nonneg``, CRAFT's concepts) or by least squares (PCA's signed components).
    """

    W: jax.Array  # (n, c)
    n_classes: int
    nonneg: bool

    @property
    def concepts(self):
        return jnp.broadcast_to(self.W, (self.n_classes,) + self.W.shape)

    def transform(self, A, y):
        A = jnp.asarray(A, jnp.float32)
        if self.nonneg:
            from jaxconcepts.kernels._nnls import nnls

            return nnls(A, self.W).codes
        return jnp.linalg.lstsq(self.W.T, A.T)[0].T

    def reconstruct(self, U, y):
        return jnp.asarray(U) @ self.W


def _fit(method, A, y, k, *, n_classes, key, cfg, craft_rows=None):
    if method == "c2mf":
        from jaxconcepts.concepts._c2mf import fit_c2mf

        return fit_c2mf(A, y, k, key=key, alpha=float(cfg["alpha"]), n_classes=n_classes,
                        max_steps=int(cfg["max_steps"]), tol=float(cfg["tol"]),
                        learning_rate=float(cfg["learning_rate"]),
                        batch_size=cfg["batch_size"], solver=str(cfg["solver"]))
    if method == "craft":
        from jaxconcepts.concepts._craft import fit_craft

        A_c, y_c = craft_rows if craft_rows is not None else (A, y)
        return fit_craft(np.maximum(A_c, 0.0), y_c, k, key=key, n_classes=n_classes,
                         max_iter=int(cfg["nmf_max_iter"]))
    from jaxconcepts.concepts._pca_baseline import fit_pca_baseline

    return fit_pca_baseline(A, y, k, n_classes=n_classes)


def _ins_del(model, U, y, target, h, cfg) -> dict:
    """Mean ± std over test images of insertion/deletion AUC, ranked by Grad-CAM and IG."""
    from jaxconcepts.evaluation._c2mf_eval import insertion_deletion

    def recon(V, c):
        return model.reconstruct(V, jnp.full((V.shape[0],), c, jnp.int32))

    out, eb = {}, int(cfg["eval_batch"])
    B = U.shape[0]
    methods = ("gradcam", "ig")
    # one compiled program for both rankings (the model's arrays are closed over: one compile
    # per fitted model)
    fn = jax.jit(lambda u, c, t: tuple(insertion_deletion(
        u, c, t, recon, h, method=meth, n_steps=int(cfg["ig_steps"])) for meth in methods))
    parts = {meth: ([], [], [], []) for meth in methods}
    for s in range(0, B, eb):
        m = min(eb, B - s)
        pad = lambda a: jnp.concatenate([a[s:s + m]] + [a[s:s + 1]] * (eb - m))  # noqa: E731
        for meth, r in zip(methods, fn(pad(U), pad(y), pad(target))):
            for lst, v in zip(parts[meth], (r.insertion_auc, r.deletion_auc, r.insertion,
                                             r.deletion)):
                lst.append(np.asarray(v)[:m])
    for meth in methods:
        ins, dele, ins_c, del_c = (np.concatenate(v) for v in parts[meth])
        out[f"insertion_{meth}_mean"], out[f"insertion_{meth}_std"] = float(ins.mean()), float(ins.std())
        out[f"deletion_{meth}_mean"], out[f"deletion_{meth}_std"] = float(dele.mean()), float(dele.std())
        out[f"insertion_{meth}_curve"] = ins_c.mean(0).round(5).tolist()
        out[f"deletion_{meth}_curve"] = del_c.mean(0).round(5).tolist()
    return out


def _none_if_nan(x):
    return None if x is None or not np.isfinite(x) else float(x)


def _recon_acc(model, A_img, y, label, pred, h, n_head, U=None) -> dict:
    from jaxconcepts.evaluation._c2mf_eval import reconstruction_accuracy

    r = reconstruction_accuracy(model, A_img, y, label, pred, h, n_classes=n_head, U=U)
    out = {}
    for ref in ("pred", "label"):
        acc = r[f"acc_{ref}"]
        have = np.flatnonzero(~np.isnan(acc))
        out[f"acc_{ref}_mean"] = _none_if_nan(r[f"acc_{ref}_mean"])
        out[f"acc_{ref}_std"] = _none_if_nan(r[f"acc_{ref}_std"])
        out[f"acc_{ref}_per_class"] = {str(int(c)): float(acc[c]) for c in have}
        out[f"n_classes_{ref}"] = int(have.size)
    return out


def _evaluate(model, data: ImageRows, split: Split, rows: _Rows, h, n_head, cfg) -> dict:
    """Every metric of one fitted model; the train and test codes are computed once."""
    from jaxconcepts.evaluation._c2mf_eval import concept_similarity, consistency

    U_tr = model.transform(rows.A_tr, rows.y_tr)
    U_te = model.transform(rows.A_te, rows.y_te)
    out = {}
    concepts = np.asarray(model.concepts)
    out["similarity"] = concept_similarity(concepts) if concepts.shape[1] >= 2 else None
    out["reconstruction"] = _recon_acc(model, rows.A_te_img, rows.y_img_te,
                                       data.label[split.test], data.pred[split.test], h, n_head,
                                       U=U_te)
    out["consistency"] = consistency(model, rows.A_tr, rows.y_tr, rows.A_te, rows.y_te,
                                     U_train=U_tr, U_test=U_te)
    U = jnp.asarray(U_te).reshape(len(split.test), rows.A_te_img.shape[1], -1)
    out["insertion_deletion"] = _ins_del(model, U, jnp.asarray(rows.y_img_te, jnp.int32),
                                         jnp.asarray(data.cls[split.test], jnp.int32), h, cfg)
    return out


def _craft_sobol(model, craft_rows, A_tr, y_tr, head, classes, *, key, n_designs):
    """``(Y, k)`` CRAFT's own concept importance: Sobol total indices of its concepts for the class
    logit, on the class's crops (or train rows when fitted on rows)."""
    from jaxconcepts.concepts._craft import craft_importance

    A_c, y_c = craft_rows if craft_rows is not None else (np.maximum(A_tr, 0.0), y_tr)
    Wh = np.asarray(head.weight)[np.asarray(classes)]  # fitted class j -> its logit row
    bh = np.asarray(head.bias)[np.asarray(classes)]
    Wh, bh = jnp.asarray(Wh), jnp.asarray(bh)

    def score(x, cl):
        return x @ Wh[cl] + bh[cl]

    return np.asarray(craft_importance(model, A_c, y_c, score, key=key, n_designs=n_designs))


def _cluster_pool(per_class_W, n, *, seed, signed):
    """Pool every class's concepts and keep, for each of n k-means clusters, the concept nearest
    its centroid. Signed (PCA) components are first given a sign (largest entry positive)."""
    from scipy.cluster.vq import kmeans2

    pooled = np.asarray(per_class_W).reshape(-1, np.asarray(per_class_W).shape[-1])
    pooled = pooled[np.linalg.norm(pooled, axis=1) > 0].astype(np.float64)
    if pooled.shape[0] < n:
        return None
    if signed:
        sign = np.sign(pooled[np.arange(len(pooled)), np.abs(pooled).argmax(1)])
        pooled = pooled * sign[:, None]
    # a few hundred points at most: scipy's seeded k-means++ / Lloyd is cheaper than compiling the
    # JAX kernel for every n
    centers, _ = kmeans2(pooled, n, minit="++", seed=seed + n)
    d = ((pooled[:, None, :] - centers[None]) ** 2).sum(-1)  # (m, n)
    return jnp.asarray(pooled[np.argmin(d, axis=0)], jnp.float32)


def _ablation(get, ns, data, split, rows: _Rows, h, n_head, seed: int, methods) -> dict:
    """Fig. 4: reconstruction accuracy vs number of shared concepts n.

    C2MF with k = n shared gated concepts, against the per-class concepts of CRAFT and of PCA (k = n
    per class) pooled over classes and clustered into n shared concepts (:func:`_cluster_pool`;
    codes by NNLS for CRAFT, least squares for PCA, no class mean).
    """
    from jaxconcepts.evaluation._c2mf_eval import reconstruction_accuracy

    Y = split.classes.size
    out = {"n_concepts": [], **{m: [] for m in ("c2mf", "craft_clustered", "pca_clustered")
                                if m.split("_")[0] in methods}}
    for n in ns:
        row = {}
        for m in methods:
            model = get(m, n)
            if model is None:
                row[m] = None
                continue
            if m != "c2mf":
                W = _cluster_pool(model.W, n, seed=seed, signed=m == "pca")
                if W is None:
                    row[m] = None
                    continue
                model = _Shared(W, Y, nonneg=m == "craft")
            r = reconstruction_accuracy(model, rows.A_te_img, rows.y_img_te,
                                        data.label[split.test], data.pred[split.test], h,
                                        n_classes=n_head)
            row[m] = _none_if_nan(r["acc_pred_mean"])
        out["n_concepts"].append(int(n))
        for m in methods:
            out["c2mf" if m == "c2mf" else f"{m}_clustered"].append(row[m])
    out["n_classes"] = int(Y)
    return out


# --------------------------------------------------------------------------------------------
# planted ground truth (extension point)


def planted_scores(dataset: str, store, data: ImageRows, split: Split, fitted: dict, *,
                   threshold: float = 0.3) -> dict | None:
    """Atoms vs planted parts and class concepts vs recipes; ``None`` without ground truth.

    Reads ``data/<dataset>/prepare/truth`` (see :mod:`jaxconcepts.datasets._planted`). For each
    method and k, on the test images that have ground truth: every concept's code map (H×W) is
    correlated (Pearson, over images × positions) with each part's mask averaged to H×W; an atom
    *matches* the part of highest correlation if it reaches ``threshold``. A class's concepts are
    C2MF's atoms with gate σ(λ_y) > 0.5, or all k of the class for the per-class baselines; the
    parts they match are scored against the class recipe (precision / recall, mean over classes).
    Images whose class is not the true label are skipped.
    """
    truth_dir = dataset_dir(dataset, "prepare") / "truth"
    if not (truth_dir / "truth.json").is_file():
        return None
    from jaxconcepts.datasets import load_truth
    from jaxconcepts.stages.recovery import match_rows

    truth = load_truth(truth_dir, "test")
    test = split.test
    images = [store.images[int(i)] for i in data.index[test]]
    rows = match_rows(images, truth.files)
    lab = np.asarray(truth.label)[rows]
    ok = lab == data.cls[test]
    if not ok.any():
        return None
    C, H, W = store.shape
    pm = np.asarray(truth.part_map)[rows][ok]  # (B, Hi, Wi)
    P = len(truth.part_names)
    Hi, Wi = pm.shape[1:]
    masks = np.stack([(pm == q) for q in range(P)], 1).astype(np.float32)  # (B, P, Hi, Wi)
    masks = masks[:, :, : Hi // H * H, : Wi // W * W]
    masks = masks.reshape(masks.shape[0], P, H, Hi // H, W, Wi // W).mean((3, 5)).reshape(-1, P, H * W)
    recipes = [set(r) for r in truth.meta["recipes"]]
    y_img = fitted_classes(split, data.cls[test][ok])
    A = data.A[test][ok]
    out = {}
    for method, per_k in fitted.items():
        out[method] = {}
        for kk, entry in per_k.items():
            model = entry["model"]
            U = np.asarray(model.transform(A.reshape(-1, C), np.repeat(y_img, H * W)))
            U = U.reshape(A.shape[0], H * W, -1)
            k = U.shape[-1]
            best_corr, prec, rec = [], [], []
            for j, cl in enumerate(split.classes):
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
                active = np.ones(k, bool)
                if hasattr(model, "gates"):
                    active = np.asarray(model.gates)[j] > 0.5
                found = {int(part[a]) for a in np.flatnonzero(active & (best >= threshold))}
                recipe = recipes[int(cl)]
                best_corr.append(best.mean())
                prec.append(len(found & recipe) / len(found) if found else 0.0)
                rec.append(len(found & recipe) / len(recipe))
            if not best_corr:
                continue
            out[method][kk] = {
                "matched_fraction": float(np.mean(np.asarray(best_corr) >= threshold)),
                "mean_best_corr": float(np.mean(best_corr)),
                "precision": float(np.mean(prec)), "recall": float(np.mean(rec)),
            }
    legend = (f"Per class (test images whose class is the true label): each concept's code map is "
              f"correlated with every part mask; parts matched by a class's active concepts "
              f"(C2MF: gate > 0.5; baselines: all k) with corr ≥ {threshold} are compared with the "
              "recipe. 'atoms matched' is the share of classes whose mean best correlation reaches "
              "the threshold.")
    return {"results": out, "threshold": threshold, "n_images": int(ok.sum()), "legend": legend}


# --------------------------------------------------------------------------------------------
# the whole evaluation


def run_c2mf(store, cfg: dict, *, dataset: str, progress: bool = True):
    """Fit and evaluate every method and k; returns ``(metrics, arrays, loss_histories)``.

    Raises:
        ValueError: bad params, no k feasible for any method, or (``cap_k: false``) a k larger
            than the data support.
        FloatingPointError: the C2MF objective became non-finite (the message names the step).
    """
    from tqdm.auto import tqdm

    ks = cfg["k"]
    if isinstance(ks, int):
        ks = [ks]
    if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks):
        raise ValueError(f"c2mf.k={cfg['k']!r} should be a non-empty list of positive ints")
    methods = list(cfg["methods"])
    bad = [m for m in methods if m not in _METHODS]
    if bad or not methods:
        raise ValueError(f"c2mf.methods={methods!r}; valid choices: {list(_METHODS)}")
    if cfg["craft_source"] not in _CRAFT_SOURCES:
        raise ValueError(f"c2mf.craft_source={cfg['craft_source']!r}; valid choices: "
                         f"{list(_CRAFT_SOURCES)}")
    if store.head is None:
        raise ValueError("the store has no GAP+linear head (head.safetensors); the C2MF metrics "
                         "need h = rows.mean @ W.T + b")
    seed = int(cfg["seed"])
    data = load_image_rows(store, labels=cfg["labels"])
    split = split_by_image(data.cls, test_fraction=float(cfg["test_fraction"]),
                           min_images=int(cfg["min_images"]), seed=seed)
    C, H, W = store.shape
    p = H * W
    names = store.manifest.get("class_names")
    cname = (lambda c: names[c] if names and 0 <= c < len(names) else str(c))  # noqa: E731
    n_imgs = {int(c): int(np.sum(data.cls == c)) for c in np.unique(data.cls)}
    metrics: dict[str, Any] = {
        "dataset": dataset,
        "settings": {k: cfg[k] for k in ("k", "methods", "labels", "test_fraction", "min_images",
                                         "cap_k", "alpha", "solver", "max_steps", "tol",
                                         "learning_rate",
                                         "craft_source", "seed")},
        "n_images": len(data.cls),
        "n_train_images": int(split.train.size),
        "n_test_images": int(split.test.size),
        "craft_rows": "per-class NMF on full-image rows clipped at 0 (no random crops)",
        "classes": [{"class": int(c), "name": cname(int(c)), "n_images": n_imgs[int(c)],
                     "n_train": int(np.sum(data.cls[split.train] == c)),
                     "n_test": int(np.sum(data.cls[split.test] == c))} for c in split.classes],
        "too_small_classes": [{"class": c, "name": cname(c), "n_images": n}
                              for c, n in split.too_small],
        "k_requested": list(ks),
        "note": None,
        "results": {},
        "ablation": None,
        "planted": None,
    }
    arrays: dict[str, np.ndarray] = {"classes": np.asarray(split.classes, np.int32)}
    histories: dict[int, np.ndarray] = {}
    if split.classes.size == 0:
        metrics["note"] = (f"no class with enough images: every class has fewer than "
                           f"{cfg['min_images']} images, so nothing was fitted or evaluated")
        return metrics, arrays, histories

    Y = split.classes.size
    rows = _rows(data, split)
    y_img_tr = fitted_classes(split, data.cls[split.train])
    rows_per_class = np.bincount(y_img_tr, minlength=Y) * p
    craft_rows = None
    if "craft" in methods and cfg["craft_source"] == "crops":
        crops = load_crops(dataset, data.index)[split.train]  # (n_train, n_crops, C)
        n_crops = crops.shape[1]
        craft_rows = (crops.reshape(-1, C), np.repeat(y_img_tr, n_crops))
        metrics["craft_rows"] = (f"per-class NMF on the spatially averaged activations of "
                                 f"{n_crops} random crops per train image (crops stage)")
    caps = k_caps(rows_per_class, C, None if craft_rows is None else
                  np.bincount(craft_rows[1], minlength=Y))
    metrics["k_caps"] = {m: caps[m] for m in methods}
    plan = []  # (method, requested k, used k)
    for m in methods:
        for k in ks:
            used = min(k, caps[m])
            if used < k and not cfg["cap_k"]:
                raise ValueError(
                    f"c2mf.k={k} is larger than the data support for {m} (k <= {caps[m]}: "
                    f"{int(rows_per_class.sum())} train rows, {int(rows_per_class.min())} in the "
                    f"smallest class, {C} channels); lower k or set c2mf.cap_k: true")
            if used >= 1:
                plan.append((m, k, used))
    if not plan:
        raise ValueError(
            f"no k in c2mf.k={ks} is feasible for any method in {methods}: caps {caps} "
            f"({int(rows_per_class.sum())} train rows, {int(rows_per_class.min())} in the smallest "
            f"class, {C} channels)")

    A_tr, y_tr = rows.A_tr, rows.y_tr
    h = _head_fn(store.head)
    n_head = int(store.head.weight.shape[0])
    key = jax.random.key(seed)
    models: dict[tuple[str, int], tuple[Any, float]] = {}

    def get(m, used):
        """The fitted model of method m with k = used (fitted once, cached)."""
        if used > caps[m] or used < 1:
            return None
        if (m, used) not in models:
            t0 = time.perf_counter()
            model = _fit(m, A_tr, y_tr, used, n_classes=Y, key=jax.random.fold_in(key, used),
                         cfg=cfg, craft_rows=craft_rows)
            models[(m, used)] = (model, time.perf_counter() - t0)
        return models[(m, used)][0]

    fitted: dict[str, dict] = {}
    bar = tqdm(plan, desc="c2mf fit+eval", disable=not progress)
    for m, k, used in bar:
        bar.set_postfix_str(f"{m} k={used}")
        kk = f"k{k}"
        if used in {e["k_used"] for e in fitted.get(m, {}).values()}:
            src = next(e for e in fitted[m].values() if e["k_used"] == used)
            entry = dict(src, k=k, capped=used < k)
        else:
            model = get(m, used)
            t0 = time.perf_counter()
            ev = _evaluate(model, data, split, rows, h, n_head, cfg)
            entry = {"model": model, "k": k, "k_used": used, "capped": used < k,
                     "fit_seconds": round(models[(m, used)][1], 3),
                     "eval_seconds": round(time.perf_counter() - t0, 3), "metrics": ev}
            if m == "c2mf":
                g = np.asarray(model.gates)
                entry["solver"] = {"n_steps": int(model.n_steps), "converged": bool(model.converged),
                                   "final_loss": float(model.loss_history[-1]),
                                   "atom_norm": float(model.atom_norm),
                                   "gates_open_fraction": float((g > 0.5).mean()),
                                   "gates_mean": float(g.mean())}
                histories[used] = np.asarray(model.loss_history)
                arrays[f"c2mf_k{used}_W"] = np.asarray(model.W)
                arrays[f"c2mf_k{used}_gates"] = g
            elif m == "craft":
                arrays[f"craft_k{used}_W"] = np.asarray(model.W)
                sob = _craft_sobol(model, craft_rows, A_tr, y_tr, store.head, split.classes,
                                   key=jax.random.fold_in(key, 7919 + used),
                                   n_designs=int(cfg["sobol_designs"]))
                arrays[f"craft_k{used}_sobol"] = sob
                entry["solver"] = {"rel_error_mean": float(np.nanmean(model.rel_error))}
                entry["metrics"]["sobol_total_indices"] = {
                    cname(int(c)): [round(float(v), 5) for v in sob[j]]
                    for j, c in enumerate(split.classes)}
            else:
                arrays[f"pca_k{used}_W"] = np.asarray(model.W)
                arrays[f"pca_k{used}_mean"] = np.asarray(model.mean)
        fitted.setdefault(m, {})[kk] = entry
    bar.close()

    for m, per_k in fitted.items():
        metrics["results"][m] = {
            kk: {"k": e["k"], "k_used": e["k_used"], "capped": e["capped"],
                 "fit_seconds": e["fit_seconds"], "eval_seconds": e["eval_seconds"],
                 **({"solver": e["solver"]} if "solver" in e else {}), **e["metrics"]}
            for kk, e in per_k.items()}
    if cfg["ablation"]:
        if "c2mf" in fitted and len(fitted) >= 2:
            ns = cfg["ablation_n"]
            if ns is None:
                ns = sorted({e["k_used"] for e in fitted["c2mf"].values()} | {Y})
            ns = [int(n) for n in ns if 1 <= int(n) <= caps["c2mf"]]
            metrics["ablation"] = _ablation(get, ns, data, split, rows, h, n_head, seed,
                                            [m for m in _METHODS if m in fitted])
        else:
            metrics["ablation"] = {"note": "needs c2mf and a baseline in c2mf.methods"}
    metrics["planted"] = planted_scores(dataset, store, data, split, fitted)
    return metrics, arrays, histories


def main(argv: list[str] | None = None) -> None:
    from jaxconcepts.evaluation._c2mf_report import loss_csv, markdown_report
    from jaxconcepts.features import ActivationStore
    from jaxconcepts.viz._c2mf_figures import c2mf_figures

    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    params = dataset_params(load_params(args.params), args.dataset)
    cfg = {**DEFAULTS, **(params.get("c2mf") or {})}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown c2mf params {unknown}; valid keys: {sorted(DEFAULTS)}")
    if cfg["seed"] is None:
        cfg["seed"] = int(params.get("seed", 0))
    store = ActivationStore(dataset_dir(args.dataset, "activations"))

    t0 = time.perf_counter()
    metrics, arrays, histories = run_c2mf(store, cfg, dataset=args.dataset)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    json.dumps(metrics, allow_nan=False, default=str)  # refuse NaN before writing anything
    fig_dir = REPORTS / args.dataset / FIGURES
    if fig_dir.is_dir():  # the figures are this stage's output: no stale ones left behind
        for old in [*fig_dir.glob("*.png"), *fig_dir.glob("NONE.txt")]:
            old.unlink()
    files = c2mf_figures(metrics, fig_dir)
    metrics["figures"] = {f: f"{FIGURES}/{name}" for f, name in files.items()}
    md = markdown_report(metrics)
    save_arrays(dataset_dir(args.dataset, "c2mf") / "dictionaries.safetensors", arrays,
                metadata={"settings": json.dumps(metrics["settings"]),
                          "classes": json.dumps([c["name"] for c in metrics["classes"]])})
    write_json(REPORTS / args.dataset / "c2mf.json", metrics)
    write_text(REPORTS / args.dataset / "c2mf_loss.csv", loss_csv(histories))
    write_text(REPORTS / args.dataset / "c2mf.md", md)
    if metrics["note"]:
        print(f"c2mf ({args.dataset}): {metrics['note']}")
    for m, per_k in metrics["results"].items():
        for kk, e in per_k.items():
            r = e["reconstruction"]
            print(f"c2mf {m} {kk} (k={e['k_used']}): rec acc (pred) "
                  f"{r['acc_pred_mean']} | test mse {e['consistency']['test_mse']:.4g} | "
                  f"ins(gc) {e['insertion_deletion']['insertion_gradcam_mean']:.3f}")
    print(f"c2mf ({args.dataset}): {metrics['seconds']} s; {len(metrics['too_small_classes'])} "
          "classes too small")


if __name__ == "__main__":
    main()
