"""The C2MF paper's evaluation (§3.3, Tables 1–3, Figs. 2–4) of C2MF, CRAFT, PCA and the SAEs, as a
library.

:func:`~jaxconcepts.evaluation.run_c2mf` fits every method for every k on the train images of a
:class:`SplitRowsView` and evaluates each fitted model with :func:`evaluate_model`: concept
similarity (Table 1), per-class reconstruction accuracy (Table 2), train/test consistency (Table 3),
insertion/deletion with Grad-CAM and IG ranking (Figs. 2–3); then the multi-class ablation
(Fig. 4, :func:`ablation`).
:func:`evaluate_controls` evaluates each fitted model's test-time controls (:data:`CONTROLS`:
PCA without the class mean, C2MF with uniform or another class's gates, random dictionaries, the
SAEs' random frozen decoders).

SAEs (:data:`~jaxconcepts.evaluation.c2mf._sae_adapter.SAE_METHODS`: ``topk``, ``batchtopk``,
``jumprelu``, ``matryoshka``, ``archetypal``) run through the same functions via
:class:`~jaxconcepts.evaluation.c2mf._sae_adapter.SAEConcepts`: a dictionary shared by all
classes, ``k`` its width.

Streaming: the evaluation consumes batches of images from the view and accumulates (codes, MSE
sums, reconstructed predictions, curves); it never concatenates all rows. Fitting goes through
:func:`fit_method` alone, so streamed fits replace it in one place.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts._checks import check_choice
from jaxconcepts.evaluation.c2mf._metrics import ClassMSE, concept_similarity, per_class_accuracy
from jaxconcepts.evaluation.c2mf._host_head import (
    head_insertion_deletion,
    head_predictions,
    ranking_agreement,
)
from jaxconcepts.evaluation.c2mf._sae_adapter import (
    SAE_KEYS,
    SAE_METHODS,
    SAE_NAMES,
    fit_sae_concepts,
)
from jaxconcepts.evaluation._image_split import SplitRowsView

__all__ = ["METHODS", "FIT_KEYS", "STREAM_KEYS", "CONTROLS", "Control", "SharedDictionary",
           "fit_method", "fit_streamed", "evaluate_model", "control_models", "evaluate_controls",
           "cluster_pool", "ablation"]

#: the C2MF paper's methods, then the SAEs
METHODS = ("c2mf", "craft", "pca") + SAE_METHODS
#: the params of ``c2mf`` that :func:`fit_method` takes
FIT_KEYS = ("alpha", "max_steps", "tol", "learning_rate", "nmf_max_iter") + SAE_KEYS
#: the params of ``c2mf`` that :func:`fit_streamed` takes (the stage's path)
STREAM_KEYS = FIT_KEYS + ("images_per_batch", "code_sweeps", "nmf_code_sweeps", "gate_steps",
                          "dict_sweeps", "init_rows", "stat_rounds", "init_steps", "extrapolate",
                          "update_shards", "nmf_update_shards", "nmf_forget")
_RANKINGS = ("gradcam", "ig")
_PAPER = ("c2mf", "craft", "pca")


class SharedDictionary(eqx.Module):
    """A dictionary shared by all classes (the clustered-baseline ablation).

    Codes by NNLS (``nonneg``, CRAFT's concepts) or by least squares (PCA's signed components).
    """

    W: jax.Array  # (n, c)
    n_classes: int = eqx.field(static=True)
    nonneg: bool = eqx.field(static=True)

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


def fit_method(method: str, A, y, k: int, *, key, n_classes: int, alpha, max_steps, tol,
               learning_rate, nmf_max_iter, sae_active, sae_epochs, sae_learning_rate,
               sae_sparsity, random_decoder: bool = False):
    """Fit one method with k concepts on rows ``A`` ``(n, c)`` of classes ``y`` ``(n,)``, in memory.

    The in-memory reference (the α sweep, tests, research scripts on small data); the stage fits
    through :func:`fit_streamed`. Hyperparameters are the ``c2mf`` params of :data:`FIT_KEYS`.
    An SAE (``y`` unused) is fitted by :func:`~jaxconcepts.sae.fit_sae` on the rows shuffled;
    ``random_decoder``: its random frozen-decoder control (SAEs only).
    """
    check_choice("method", method, METHODS)
    _check_random_decoder(method, random_decoder)
    if method in SAE_METHODS:
        return fit_sae_concepts(method, np.asarray(A, np.float32), k, key=key,
                                n_classes=n_classes, init_rows=65536,
                                random_decoder=random_decoder, sae_active=sae_active,
                                sae_epochs=sae_epochs, sae_learning_rate=sae_learning_rate,
                                sae_sparsity=sae_sparsity)
    if method == "c2mf":
        from jaxconcepts.concepts._c2mf import fit_c2mf

        return fit_c2mf(A, y, k, key=key, alpha=float(alpha), n_classes=n_classes,
                        max_steps=int(max_steps), tol=float(tol),
                        learning_rate=float(learning_rate))
    if method == "craft":
        from jaxconcepts.concepts._craft import fit_craft

        return fit_craft(np.maximum(A, 0.0), y, k, key=key, n_classes=n_classes,
                         max_iter=int(nmf_max_iter))
    from jaxconcepts.concepts._pca_baseline import fit_pca_baseline

    return fit_pca_baseline(A, y, k, n_classes=n_classes)


def fit_streamed(method: str, view, k: int, *, key, crops=None, alpha, max_steps, tol,
                 learning_rate, nmf_max_iter, images_per_batch, code_sweeps, nmf_code_sweeps,
                 gate_steps, dict_sweeps, init_rows, stat_rounds, init_steps, extrapolate,
                 update_shards, nmf_update_shards, nmf_forget, sae_active, sae_epochs,
                 sae_learning_rate, sae_sparsity, random_decoder: bool = False):
    """Fit one method with k concepts on the train images of ``view``, streamed from the store.

    C2MF: block-coordinate steps on each pass's sums
    (:func:`jaxconcepts.streaming.fit_c2mf_streamed`);
    PCA: a streamed per-class covariance, then one ``eigh`` (``fit_pca_streamed``); CRAFT: streamed
    per-class NMF (``fit_nmf_streamed``, which needs A ≥ 0) of its crops (``crops``: a rows view of
    the crop store, one row per crop, ``view.stream(..., crops=...)``) or, without crops, of the
    train rows, in memory instead when those rows are no more than ``init_rows``
    (:func:`_craft_in_memory`); an SAE: :func:`~jaxconcepts.sae.fit_sae_streamed` (``sae_epochs``
    passes in the store's order, one Adam step per batch of ``images_per_batch`` images;
    ``random_decoder``: its random frozen-decoder control).
    Rows are sharded over every device (and process) of the default mesh.
    """
    check_choice("method", method, METHODS)
    _check_random_decoder(method, random_decoder)
    rows = view.stream("train", images_per_batch)
    if method in SAE_METHODS:
        return fit_sae_concepts(method, rows, k, key=key, init_rows=init_rows,
                                random_decoder=random_decoder, sae_active=sae_active,
                                sae_epochs=sae_epochs, sae_learning_rate=sae_learning_rate,
                                sae_sparsity=sae_sparsity)
    if method == "c2mf":
        from jaxconcepts.streaming import fit_c2mf_streamed

        return fit_c2mf_streamed(rows, int(k), key=key, alpha=float(alpha),
                                 max_steps=int(max_steps), tol=float(tol),
                                 code_sweeps=int(code_sweeps), gate_steps=int(gate_steps),
                                 dict_sweeps=int(dict_sweeps), learning_rate=float(learning_rate),
                                 init_rows=int(init_rows), stat_rounds=int(stat_rounds),
                                 init_steps=int(init_steps), extrapolate=bool(extrapolate),
                                 update_shards=None if update_shards is None
                                 else int(update_shards))
    if method == "craft":
        from jaxconcepts.concepts._craft import Craft
        from jaxconcepts.streaming import fit_nmf_streamed

        src = rows if crops is None else crops
        if src.n_rows <= int(init_rows):
            return _craft_in_memory(src, int(k), key=key, max_iter=int(nmf_max_iter),
                                    tol=float(tol))
        nmf = fit_nmf_streamed(src, int(k), key=key, max_steps=int(nmf_max_iter), tol=float(tol),
                               code_sweeps=int(nmf_code_sweeps), dict_sweeps=int(dict_sweeps),
                               init_rows=int(init_rows), update_shards=nmf_update_shards,
                               forget=float(nmf_forget))
        err = np.full(view.n_classes, float(nmf.error_history[-1]), np.float32)
        return Craft(nmf.W, err, np.asarray(nmf.fitted))
    from jaxconcepts.streaming import fit_pca_streamed

    return fit_pca_streamed(rows, int(k))


def _craft_in_memory(src, k: int, *, key, max_iter: int, tol: float):
    """CRAFT's per-class NMF of every row of ``src`` in memory (:func:`fit_craft`, accelerated
    HALS to convergence), atoms scaled to unit norm as the streamed fit leaves them.

    Used when the rows are no more than ``init_rows``: the streamed fit's in-memory start then
    already sees every row, and its passes (each re-solving every code from zero by HALS sweeps)
    only approach what the in-memory solver reaches directly. ``src.sample`` reads the global
    shard list, so every process fits the same rows and gets the same atoms."""
    from jaxconcepts.concepts._craft import Craft, fit_craft

    A, y = src.sample(src.n_rows, seed=0)
    if A.min() < 0:
        raise ValueError(f"NMF needs non-negative activations; the rows have min {A.min():.4g}")
    model = fit_craft(A, y, k, key=key, max_iter=max_iter, tol=tol, n_classes=src.n_classes)
    n = jnp.linalg.norm(model.W, axis=2, keepdims=True)
    W = jnp.where(n > 0, model.W / jnp.where(n > 0, n, 1.0), model.W)
    return Craft(W, model.rel_error, model.fitted)


def _check_random_decoder(method: str, random_decoder: bool) -> None:
    if random_decoder and method not in SAE_METHODS:
        raise ValueError(f"random_decoder=True is the SAEs' control; method={method!r} is not an "
                         f"SAE ({list(SAE_METHODS)})")


def _none_if_nan(x):
    return None if x is None or not np.isfinite(x) else float(x)


def _accuracy_summary(rec_pred, label, pred, y, classes) -> dict:
    """Table 2 per C2MF class: ``y`` ``(n,)`` fitted class of each test image, ``classes``
    ``(Y,)`` their store ids (the keys of ``acc_*_per_class``); ``rec_pred``, ``pred`` and
    ``label`` are head outputs (``label`` -1 when unknown or not a head output)."""
    out = {}
    for ref_name, ref in (("pred", pred), ("label", label)):
        acc, mean, std = per_class_accuracy(rec_pred, ref, len(classes), groups=y)
        have = np.flatnonzero(~np.isnan(acc))
        out[f"acc_{ref_name}_mean"] = _none_if_nan(mean)
        out[f"acc_{ref_name}_std"] = _none_if_nan(std)
        out[f"acc_{ref_name}_per_class"] = {str(int(classes[j])): float(acc[j]) for j in have}
        out[f"n_classes_{ref_name}"] = int(have.size)
    return out


def _row_blocks(rows):
    """``(A (m, c), y (m,))`` blocks of a rows view's valid images (or one in-memory pair)."""
    if isinstance(rows, tuple):
        yield rows
        return
    for b in rows:
        if b.valid.any():
            A = b.A[b.valid]
            yield A.reshape(-1, A.shape[-1]), np.repeat(b.y[b.valid], A.shape[1])


def evaluate_model(model, view: SplitRowsView, head, *, ig_steps: int, eval_batch: int,
                   own_rows=None, train: bool = True, similarity: bool = True) -> dict:
    """Every metric of one fitted model, in one pass over the train and one over the test images.

    Two vocabularies (:mod:`jaxconcepts.evaluation._image_split`): what is *per class* (the
    per-class MSE of Table 3, the per-class accuracy of Table 2, the per-class ranking agreement)
    is per C2MF class (the view's fitted classes: folders with ``labels: label``); what reads the
    head (the reconstructed predictions and their references, Grad-CAM, IG, the insertion/deletion
    probability) uses head outputs: each test image's ``target`` (its class when classes are head
    outputs, else the head's prediction), ``pred``, and its label only when that is a head output.

    Args:
        model: a ``ConceptDecomposition``; view: the rows; head: GAP + linear head record (JAX
            closed form) or a :class:`~jaxconcepts.heads.HostHead` with ``grad`` (a non-linear h run
            on the host: Grad-CAM and IG through its gradients, curves scored by it).
        own_rows: the rows a method was fitted on when they are not the train images (CRAFT's
            crops; a rows view, streamed, or ``(A, y)``): their MSE is reported as
            ``train_mse_own_rows`` beside ``train_mse``.
        train: ``False`` skips the pass over the train images (the test-time controls,
            :func:`evaluate_controls`): ``consistency`` then holds the test MSE only.
        similarity: ``False`` reports ``similarity: None`` (a control whose concepts are the
            fitted model's).
    """
    p, c = view.p, view.c
    hw = tuple(view.store.shape[1:])
    concepts = np.asarray(model.concepts)
    out: dict[str, Any] = {
        "similarity": concept_similarity(concepts) if similarity and concepts.shape[1] >= 2
        else None}
    train_mse = ClassMSE()
    for A, y in (view.train_batches(eval_batch) if train else ()):
        train_mse.add(A, model.reconstruct(model.transform(A, y), y), y)
    test = ClassMSE()
    rec, lab, prd = [], [], []
    curves = {m: ([], [], [], [], []) for m in _RANKINGS}
    ys = []
    for b in view.test_batches(eval_batch):
        y_rows = np.repeat(b.y, p)
        U = model.transform(b.A.reshape(-1, c), y_rows)
        n_rows = b.n * p
        test.add(b.A[:b.n].reshape(-1, c), model.reconstruct(U[:n_rows], y_rows[:n_rows]),
                 y_rows[:n_rows])
        rec.append(head_predictions(model, head, U, b.y, p, c, hw=hw)[:b.n])
        lab.append(b.label[:b.n])
        prd.append(b.pred[:b.n])
        ys.append(b.y[:b.n])
        res = head_insertion_deletion(
            model, head, jnp.asarray(U).reshape(b.A.shape[0], p, -1), b.y, b.target,
            methods=_RANKINGS, n_steps=int(ig_steps), hw=hw, n_classes=view.n_classes)
        for m, r in zip(_RANKINGS, res):
            for lst, v in zip(curves[m], (r.insertion_auc, r.deletion_auc, r.insertion,
                                          r.deletion, r.importance)):
                lst.append(np.asarray(v)[:b.n])
    out["reconstruction"] = _accuracy_summary(np.concatenate(rec), np.concatenate(lab),
                                              np.concatenate(prd), np.concatenate(ys),
                                              view.split.classes)
    cons = test.summary("test")
    if train:
        cons = {**train_mse.summary("train"), **cons}
        cons["difference"] = cons["test_mse"] - cons["train_mse"]
    if own_rows is not None:
        own = ClassMSE()
        for A_o, y_o in _row_blocks(own_rows):
            own.add(A_o, model.reconstruct(model.transform(A_o, y_o), y_o), y_o)
        cons["train_mse_own_rows"] = own.summary("own")["own_mse"]
    out["consistency"] = cons
    idl = {}
    imps = {}
    for m in _RANKINGS:
        ins, dele, ins_c, del_c, imps[m] = (np.concatenate(v) for v in curves[m])
        idl[f"insertion_{m}_mean"], idl[f"insertion_{m}_std"] = float(ins.mean()), float(ins.std())
        idl[f"deletion_{m}_mean"], idl[f"deletion_{m}_std"] = float(dele.mean()), float(dele.std())
        idl[f"insertion_{m}_curve"] = ins_c.mean(0).round(5).tolist()
        idl[f"deletion_{m}_curve"] = del_c.mean(0).round(5).tolist()
    out["insertion_deletion"] = idl
    out["ranking_agreement"] = ranking_agreement(imps["gradcam"], imps["ig"], np.concatenate(ys))
    return out


class Control(NamedTuple):
    """A test-time control of one method's fitted model (:mod:`jaxconcepts.concepts._controls`):
    the method it controls (``of``), its row label in the tables, what it tells, and whether its
    concepts differ from the fitted ones (only then is Table 1 reported for it)."""

    of: str
    label: str
    tells: str
    own_concepts: bool


#: the controls of :func:`evaluate_controls`, by name (the keys of ``c2mf.json``'s ``controls``)
CONTROLS = {
    "pca_no_mean": Control(
        "pca", "PCA (no class mean)",
        "PCA's codes and reconstruction with the true class's mean left out (A W_yᵀ, then U W_y): "
        "how much of PCA's score comes from its k components and how much from adding back the "
        "mean activation of the class the image is known to belong to.", False),
    "c2mf_uniform_gates": Control(
        "c2mf", "C2MF (uniform gates)",
        "C2MF with every gate of every class set to the model's mean gate, codes re-solved: the "
        "same dictionary and gate budget without the class's gates; close to C2MF means the "
        "score does not need the true class's gates.", False),
    "c2mf_other_gates": Control(
        "c2mf", "C2MF (other class's gates)",
        "C2MF where class y uses the gates of the next class, (y + 1) mod Y, codes re-solved: "
        "close to C2MF means the gates carry no class information the score needs; a drop "
        "means the true class's gates steer the reconstruction towards its class.", False),
    "craft_rows": Control(
        "craft", "CRAFT (full-image rows)",
        "CRAFT's per-class NMF fitted on the full-image rows clipped at 0 (c2mf.craft_source: "
        "rows) instead of its random crops, same k: separates what the crops give CRAFT from "
        "fitting per-position rather than averaged vectors. Refitted (the one control that is); "
        "only when CRAFT runs on crops.", True),
    "random_c2mf": Control(
        "c2mf", "random (C2MF shape)",
        "k Gaussian atoms of norm ρ in place of C2MF's W, the fitted gates and C2MF's box-NNLS "
        "codes: chance at the same k.", True),
    "random_craft": Control(
        "craft", "random (CRAFT shape)",
        "per class k |Gaussian| atoms with the norms of CRAFT's, NNLS codes: chance at the same "
        "k for a non-negative dictionary.", True),
    "random_pca": Control(
        "pca", "random (PCA shape)",
        "per class a random orthonormal k-frame in place of PCA's components, the class mean "
        "kept: chance at the same k when the true class's mean is added back.", True),
    **{f"random_{m}": Control(
        m, f"random ({SAE_NAMES[m]} decoder)",
        "the same SAE refitted with the random unit decoder of its initialisation frozen (only "
        "the encoder and biases learn: the scoreboard's random frozen decoder): chance atoms at "
        "the same width and sparsity, with an encoder trained to use them.", True)
       for m in SAE_METHODS},
}


def control_models(method: str, model, *, key, refit: Callable | None = None) -> dict:
    """``{name: model}``: the controls of :data:`CONTROLS` for one fitted model of ``method``
    (none for a single fitted class: there is no other class's gates to borrow). An SAE's
    control is refitted: ``refit()`` returns its random frozen-decoder fit (e.g.
    :func:`fit_streamed` with ``random_decoder=True`` and the fit's own key, so the frozen
    decoder is the fitted SAE's initial one)."""
    from jaxconcepts.concepts._controls import (other_class_gates, random_dictionary,
                                                uniform_gates, without_class_mean)

    check_choice("method", method, METHODS)
    if method in SAE_METHODS:
        if refit is None:
            raise ValueError(f"refit=None: the control of the {method} SAE (its random frozen "
                             "decoder) is refitted; give refit() returning that fit")
        return {f"random_{method}": refit()}
    out = {}
    if method == "pca":
        out["pca_no_mean"] = without_class_mean(model)
    if method == "c2mf":
        out["c2mf_uniform_gates"] = uniform_gates(model)
        if int(np.sum(np.asarray(model.gates).any(1))) >= 2:
            out["c2mf_other_gates"] = other_class_gates(model)
    out[f"random_{method}"] = random_dictionary(model, key=key)
    return out


def evaluate_controls(method: str, model, view: SplitRowsView, head, *, key, ig_steps: int,
                      eval_batch: int, refit: Callable | None = None) -> dict:
    """``{name: metrics}``: every control of one fitted model, evaluated on the test images only
    (:func:`evaluate_model` with ``train=False``): reconstruction accuracy (Table 2), test MSE
    (Table 3), insertion/deletion; Table 1's similarity for the random dictionaries only. Nothing
    is fitted (the SAEs' random frozen decoders excepted: ``refit``, :func:`control_models`):
    the controls reuse the fitted model and solve codes on the test rows."""
    return {name: evaluate_model(ctl, view, head, ig_steps=ig_steps, eval_batch=eval_batch,
                                 train=False, similarity=CONTROLS[name].own_concepts)
            for name, ctl in control_models(method, model, key=key, refit=refit).items()}


def cluster_pool(per_class_W, n: int, *, seed: int, signed: bool):
    """Pool every class's concepts and keep, for each of n k-means clusters, the concept nearest
    its centroid (``None`` with fewer than n concepts). Signed (PCA) components are first given a
    sign (largest entry positive)."""
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


def ablation(get: Callable, ns, view: SplitRowsView, head, *, seed: int, methods,
             eval_batch: int) -> dict:
    """Fig. 4: reconstruction accuracy vs number of shared concepts n (agreement of h on the
    reconstruction with the model's own prediction, mean over C2MF classes).

    C2MF with k = n shared gated concepts, against the per-class concepts of CRAFT and of PCA (k = n
    per class) pooled over classes and clustered into n shared concepts (:func:`cluster_pool`;
    codes by NNLS for CRAFT, least squares for PCA, no class mean). ``get(method, n)`` returns the
    fitted model or ``None``. The SAEs in ``methods`` are left out (the figure is the paper's:
    C2MF against clustered per-class concepts).
    """
    p, c = view.p, view.c
    hw = tuple(view.store.shape[1:])
    Y = view.n_classes
    methods = [m for m in methods if m in _PAPER]  # the SAEs are not in Fig. 4
    out = {"n_concepts": [], **{m: [] for m in ("c2mf", "craft_clustered", "pca_clustered")
                                if m.split("_")[0] in methods}}
    for n in ns:
        row = {}
        for m in methods:
            model = get(m, n)
            if model is not None and m != "c2mf":
                W = cluster_pool(model.W, n, seed=seed, signed=m == "pca")
                model = None if W is None else SharedDictionary(W, Y, nonneg=m == "craft")
            if model is None:
                row[m] = None
                continue
            rec, prd, ys = [], [], []
            for b in view.test_batches(eval_batch):
                U = model.transform(b.A.reshape(-1, c), np.repeat(b.y, p))
                rec.append(head_predictions(model, head, U, b.y, p, c, hw=hw)[:b.n])
                prd.append(b.pred[:b.n])
                ys.append(b.y[:b.n])
            row[m] = _none_if_nan(per_class_accuracy(np.concatenate(rec), np.concatenate(prd),
                                                     Y, groups=np.concatenate(ys))[1])
        out["n_concepts"].append(int(n))
        for m in methods:
            out["c2mf" if m == "c2mf" else f"{m}_clustered"].append(row[m])
    out["n_classes"] = int(Y)
    return out
