"""The whole C2MF evaluation of one activation store: plan the (method, k) fits, fit each once,
evaluate each, add CRAFT's Sobol importance, the ablation and the planted ground-truth scores.

The ``c2mf`` stage is a thin main around :func:`run_c2mf`; this module holds what it decides.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

import jax
import numpy as np

from jaxconcepts._checks import check_choice, check_positive_ints
from jaxconcepts.evaluation.c2mf._sae_adapter import SAE_METHODS
from jaxconcepts.evaluation.c2mf._fit_evaluate import (
    CONTROLS,
    FIT_KEYS,
    METHODS,
    STREAM_KEYS,
    ablation,
    evaluate_controls,
    evaluate_model,
    fit_streamed,
)
from jaxconcepts.evaluation._image_split import (
    SplitRowsView,
    check_label_classes,
    k_caps,
    load_image_rows,
    split_by_image,
    store_head_outputs,
)
from jaxconcepts.heads import HostHead, as_head

if TYPE_CHECKING:
    from jaxconcepts._schema import C2MF

__all__ = ["CRAFT_SOURCES", "C2MFFits", "run_c2mf", "split_seed_runs", "store_head"]

CRAFT_SOURCES = ("crops", "rows")
_SETTINGS = ("k", "methods", "labels", "test_fraction", "min_images", "cap_k", "alpha",
             "max_steps", "tol", "learning_rate", "images_per_batch", "code_sweeps",
             "nmf_code_sweeps", "gate_steps", "dict_sweeps", "init_rows", "craft_source", "seed",
             "controls")


class C2MFFits(NamedTuple):
    """What the fits of :func:`run_c2mf` leave for the atlas and the α sweep: the rows they were
    fitted on (``view``), ``get(method, k)`` (the cached fit, fitting it when needed; None above
    the data's cap), ``caps`` (the largest k per method), ``fit_kwargs`` and the PRNG ``key``."""

    view: SplitRowsView
    get: Callable[[str, int], Any]
    caps: dict
    fit_kwargs: dict
    key: jax.Array


def _check(cfg: C2MF) -> tuple[list[int], list[str]]:
    ks = check_positive_ints("c2mf.k", cfg.k)
    methods = list(cfg.methods)
    if not methods or any(m not in METHODS for m in methods):
        raise ValueError(f"c2mf.methods={methods!r}; valid choices: {list(METHODS)}")
    check_choice("c2mf.craft_source", cfg.craft_source, CRAFT_SOURCES)
    if cfg.seed is None:
        raise ValueError("c2mf.seed=None: the stage resolves it to the top-level seed")
    return ks, methods


def _plan(ks, methods, caps, rows_per_class, C, cap_k):
    """``[(method, requested k, used k)]``: k capped at the data support (or an error)."""
    plan = []
    for m in methods:
        for k in ks:
            used = min(k, caps[m])
            if used < k and not cap_k:
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
    return plan


def _model_record(m, model, used, arrays, histories, view, head, craft_rows, key, cfg, cname):
    """Solver diagnostics, arrays to save and (CRAFT) Sobol importance of one fitted model."""
    extra: dict[str, Any] = {}
    if m == "c2mf":
        g = np.asarray(model.gates)
        extra["solver"] = {"n_steps": int(model.n_steps), "converged": bool(model.converged),
                           "final_loss": float(model.loss_history[-1]),
                           "atom_norm": float(model.atom_norm),
                           "gates_open_fraction": float((g > 0.5).mean()),
                           "gates_mean": float(g.mean())}
        histories[used] = np.asarray(model.loss_history)
        arrays[f"c2mf_k{used}_W"] = np.asarray(model.W)
        arrays[f"c2mf_k{used}_gates"] = g
    elif m == "craft":
        from jaxconcepts.importance._sobol import class_logit_importance

        arrays[f"craft_k{used}_W"] = np.asarray(model.W)
        extra["solver"] = {"rel_error_mean": float(np.nanmean(model.rel_error))}
        if isinstance(head, HostHead):  # Sobol scores pooled rows with a linear logit
            extra["sobol_total_indices"] = None
            extra["sobol_note"] = ("not computed: CRAFT's Sobol indices score spatially pooled "
                                   "rows with the logit of a GAP + linear head; this h is the "
                                   "non-linear rest of the network")
            return extra
        sob = class_logit_importance(model, *craft_rows, head, view.head_outputs(),
                                     key=jax.random.fold_in(key, 7919 + used),
                                     n_designs=int(cfg.sobol_designs))
        arrays[f"craft_k{used}_sobol"] = sob
        extra["sobol_total_indices"] = {cname(int(c)): [round(float(v), 5) for v in sob[j]]
                                        for j, c in enumerate(view.split.classes)}
    elif m == "pca":
        arrays[f"pca_k{used}_W"] = np.asarray(model.W)
        arrays[f"pca_k{used}_mean"] = np.asarray(model.mean)
    else:  # an SAE: its decoder rows and bias; the dead latents are in the results
        from jaxconcepts.evaluation.c2mf._sae_adapter import sae_solver

        arrays[f"{m}_k{used}_W"] = np.asarray(model.W)
        arrays[f"{m}_k{used}_b_dec"] = np.asarray(model.sae.b_dec)
        extra["solver"] = sae_solver(model)
    return extra


def _controls(m, model, used, view, head, key, cfg, stream_kw, crops: bool) -> dict:
    """The test-time controls of one fit (:func:`evaluate_controls`): random atoms are one seeded
    draw per (method, k); an SAE's random frozen decoder is refitted with the fit's own key (its
    initial decoder); CRAFT on crops also gets CRAFT refitted on the full-image rows."""
    fit_key = jax.random.fold_in(key, used)
    refit = None
    if m in SAE_METHODS:
        def refit():
            return fit_streamed(m, view, used, key=fit_key, random_decoder=True, **stream_kw)
    ev = {"ig_steps": int(cfg.ig_steps), "eval_batch": int(cfg.eval_batch)}
    ctl = evaluate_controls(m, model, view, head, refit=refit, **ev,
                            key=jax.random.fold_in(jax.random.fold_in(key, 104729),
                                                   METHODS.index(m) * 4096 + used))
    if m == "craft" and crops:  # CRAFT on rows: the crops' control
        on_rows = fit_streamed("craft", view, used, key=fit_key, crops=None, **stream_kw)
        ctl["craft_rows"] = evaluate_model(on_rows, view, head, train=False, similarity=True,
                                           **ev)
    return ctl


def store_head(store, *, batch_size: int = 256):
    """The h the C2MF suite runs for ``store``: its GAP + linear head record (JAX closed form)
    when it has one, else the rest of the network in torch with its gradients
    (a :class:`~jaxconcepts.heads.HostHead` over ``features.torch_head_with_grad``; the model is
    rebuilt from the store's manifest)."""
    if store.head is not None:
        return store.head
    from jaxconcepts.features import torch_head_with_grad

    fn, grad = torch_head_with_grad(store)
    return HostHead(fn, grad, int(store.manifest["head"]["num_classes"]), int(batch_size))


def _class_namer(store, space: str):
    """C2MF class id -> name: the manifest's ``class_names`` for folder classes; for classes that
    are head outputs, the head's names when it has some (the store's, ImageNet's), else the id."""
    from jaxconcepts.store import head_label_space

    names = store.manifest.get("class_names")
    if space == "head":
        K = store_head_outputs(store)
        ls = None if K is None else head_label_space(K, names)
        names = None if ls is None or ls.source == "index" else ls.names
    return lambda c: str(names[c]) if names and 0 <= c < len(names) else str(c)


class _Rows(NamedTuple):
    """What :func:`run_c2mf` fits on: the images' rows and classes (``data``), the train/test
    ``split``; with at least one class, the ``view`` of the rows, CRAFT's ``own_rows`` (its crops,
    or None), the largest k per method (``caps``) and the ``plan`` of (method, k, used k)."""

    data: Any
    split: Any
    view: SplitRowsView | None = None
    own_rows: Any = None
    caps: dict | None = None
    plan: list | None = None


def _load_rows(store, cfg: C2MF, ks, methods, *, crops_path) -> _Rows:
    """The rows, their split and the fit plan: every check on params × store (labels, class
    sizes, k) runs here, before the head is built or anything is fitted."""
    data = load_image_rows(store, labels=cfg.labels)  # checks labels x store
    split = split_by_image(data.cls, test_fraction=float(cfg.test_fraction),
                           min_images=int(cfg.min_images), seed=int(cfg.seed))
    C = store.shape[0]
    if cfg.labels == "label":
        check_label_classes(data, split, min_images=int(cfg.min_images),
                            names=store.manifest.get("class_names"))
    if not split.classes.size:
        return _Rows(data, split)
    own_rows = None  # CRAFT's own rows (its crops), streamed from the crop store
    view = SplitRowsView(store, data, split, cache_bytes=int(cfg.cache_mb) << 20)
    rows_per_class = view.rows_per_class()
    if "craft" in methods and cfg.craft_source == "crops":
        own_rows = view.stream("train", int(cfg.images_per_batch), crops=crops_path)
    caps = k_caps(rows_per_class, C, None if own_rows is None else own_rows.class_rows)
    # an SAE may be overcomplete (width > C): at most one latent per train row
    caps.update({m: int(rows_per_class.sum()) for m in SAE_METHODS})
    plan = _plan(ks, methods, caps, rows_per_class, C, cfg.cap_k)  # k errors: before work
    return _Rows(data, split, view, own_rows, caps, plan)


def _header(store, cfg: C2MF, *, dataset: str, data, split, cname, head, ks) -> dict:
    """``metrics`` before any fit: the settings, the images and classes, the head; ``results``,
    ``controls``, ``ablation`` and ``planted`` are filled in by :func:`run_c2mf`."""
    n_imgs = {int(c): int(np.sum(data.cls == c)) for c in np.unique(data.cls)}
    return {
        "dataset": dataset, "settings": {k: getattr(cfg, k) for k in _SETTINGS},
        "n_images": len(data.cls), "n_train_images": int(split.train.size),
        "n_test_images": int(split.test.size),
        "class_space": data.space,
        "craft_rows": "per-class NMF on full-image rows clipped at 0 (no random crops)",
        "classes": [{"class": int(c), "name": cname(int(c)), "n_images": n_imgs[int(c)],
                     "n_train": int(np.sum(data.cls[split.train] == c)),
                     "n_test": int(np.sum(data.cls[split.test] == c))} for c in split.classes],
        "too_small_classes": [{"class": c, "name": cname(c), "n_images": n}
                              for c, n in split.too_small],
        "head": {"kind": "torch" if isinstance(head, HostHead) else "gap_linear",
                 "layer": store.manifest.get("layer")},
        "k_requested": list(ks), "note": None, "results": {}, "controls": None, "ablation": None,
        "planted": None,
    }


def _sobol_rows(rows: _Rows, cfg: C2MF) -> tuple[tuple, str | None]:
    """The rows CRAFT's Sobol importance scores (a seeded sample, clipped at 0): of its crops
    when it has them (and the note that says so for ``metrics["craft_rows"]``), else of the
    train rows (note None)."""
    seed = int(cfg.seed)
    if rows.own_rows is not None:
        A_s, y_s = rows.own_rows.sample(int(cfg.init_rows), seed=seed)
        return (np.maximum(A_s, 0.0), y_s), (
            f"per-class NMF on the spatially averaged activations of "
            f"{rows.own_rows.rows_per_image} random crops per train image (crops stage), "
            "streamed from the crop store")
    A_s, y_s = rows.view.stream("train", int(cfg.images_per_batch)).sample(
        int(cfg.init_rows), seed=seed)
    return (np.maximum(A_s, 0.0), y_s), None


def _fit_cache(rows: _Rows, key, stream_kw: dict):
    """``(get, models)``: ``get(method, k)`` is the fitted model (fitted once, streamed, cached;
    None above the data's cap), ``models[(method, k)]`` its ``(model, fit seconds)``."""
    models: dict[tuple[str, int], tuple[Any, float]] = {}

    def get(m, used):
        """The fitted model of method m with k = used (fitted once, streamed, cached)."""
        if used > rows.caps[m] or used < 1:
            return None
        if (m, used) not in models:
            t0 = time.perf_counter()
            model = fit_streamed(m, rows.view, used, key=jax.random.fold_in(key, used),
                                 crops=rows.own_rows if m == "craft" else None, **stream_kw)
            models[(m, used)] = (model, time.perf_counter() - t0)
        return models[(m, used)][0]

    return get, models


class _Evaluation(NamedTuple):
    """What every fit's evaluation reads, and the ``arrays`` / loss ``histories`` it fills."""

    view: SplitRowsView
    head: Any
    own_rows: Any
    craft_rows: tuple
    key: jax.Array
    cfg: Any
    stream_kw: dict
    cname: Callable
    arrays: dict
    histories: dict


def _evaluate_fit(m, k, used, model, fit_seconds: float, ev: _Evaluation,
                  controls: dict) -> dict:
    """The entry of one new fit (its metrics, solver record, CRAFT's Sobol importance) and, at
    the k of ``cfg.controls``, its test-time controls, added to ``controls``."""
    cfg = ev.cfg
    t0 = time.perf_counter()
    metrics = evaluate_model(model, ev.view, ev.head, ig_steps=int(cfg.ig_steps),
                             eval_batch=int(cfg.eval_batch),
                             own_rows=ev.own_rows if m == "craft" else None)
    entry = {"model": model, "k": k, "k_used": used, "capped": used < k,
             "fit_seconds": round(fit_seconds, 3),
             "eval_seconds": round(time.perf_counter() - t0, 3), "metrics": metrics}
    extra = _model_record(m, model, used, ev.arrays, ev.histories, ev.view, ev.head,
                          ev.craft_rows, ev.key, cfg, ev.cname)
    if "solver" in extra:
        entry["solver"] = extra.pop("solver")
    metrics.update(extra)
    if k in cfg.controls or used in cfg.controls:
        t0 = time.perf_counter()
        ctl = _controls(m, model, used, ev.view, ev.head, ev.key, cfg, ev.stream_kw,
                        ev.own_rows is not None)
        secs = round((time.perf_counter() - t0) / max(len(ctl), 1), 3)
        for name, cev in ctl.items():
            controls.setdefault(name, {})[f"k{k}"] = {
                "of": m, "k": k, "k_used": used, "capped": used < k,
                "eval_seconds": secs, **cev}
    return entry


def _fit_and_evaluate(plan, get, models, ev: _Evaluation, *, progress: bool):
    """Fit and evaluate every (method, k) of the plan: ``fitted[method]["k<k>"]`` and
    ``controls[name]["k<k>"]`` (test images only). A capped k reuses the fit, metrics and
    controls of the k it was capped to."""
    from tqdm.auto import tqdm

    fitted: dict[str, dict] = {}
    controls: dict[str, dict] = {}  # control name -> "k<k>" -> entry (test images only)
    bar = tqdm(plan, desc="c2mf fit+eval", disable=not progress)
    for m, k, used in bar:
        bar.set_postfix_str(f"{m} k={used}")
        same = [e for e in fitted.get(m, {}).values() if e["k_used"] == used]
        if same:  # a capped k: the fit and metrics of k = used serve it
            entry = dict(same[0], k=k, capped=used < k)
            for per_k in controls.values():
                twin = [c for c in per_k.values() if c["k_used"] == used and c["of"] == m]
                if twin:
                    per_k[f"k{k}"] = dict(twin[0], k=k, capped=used < k)
        else:
            model = get(m, used)
            entry = _evaluate_fit(m, k, used, model, models[(m, used)][1], ev, controls)
        fitted.setdefault(m, {})[f"k{k}"] = entry
    bar.close()
    return fitted, controls


def _results(fitted: dict) -> dict:
    """``metrics["results"]``: per method and ``"k<k>"``, the fit's record and metrics."""
    return {m: {kk: {"k": e["k"], "k_used": e["k_used"], "capped": e["capped"],
                     "fit_seconds": e["fit_seconds"], "eval_seconds": e["eval_seconds"],
                     **({"solver": e["solver"]} if "solver" in e else {}), **e["metrics"]}
                for kk, e in per_k.items()}
            for m, per_k in fitted.items()}


def _controls_report(controls: dict) -> dict:
    """``metrics["controls"]``: each control's definition and its entries per ``"k<k>"``."""
    return {name: {"of": CONTROLS[name].of, "label": CONTROLS[name].label,
                   "tells": CONTROLS[name].tells,
                   "results": {kk: {f: v for f, v in e.items() if f != "of"}
                               for kk, e in per_k.items()}}
            for name, per_k in ((n, controls[n]) for n in CONTROLS if n in controls)}


def _ablation(fitted: dict, get, caps: dict, view, head, cfg: C2MF) -> dict:
    """``metrics["ablation"]``: C2MF against CRAFT / PCA at the ablation's ks (default: the
    fitted C2MF ks and the number of classes), or a note when a method is missing."""
    if not ("c2mf" in fitted and {"craft", "pca"} & set(fitted)):
        return {"note": "needs c2mf and CRAFT or PCA in c2mf.methods"}
    ns = cfg.ablation_n
    if ns is None:
        ns = sorted({e["k_used"] for e in fitted["c2mf"].values()} | {view.n_classes})
    ns = [int(n) for n in ns if 1 <= int(n) <= caps["c2mf"]]
    return ablation(get, ns, view, head, seed=int(cfg.seed),
                    methods=[m for m in METHODS if m in fitted], eval_batch=int(cfg.eval_batch))


def _store_head(store, head):
    """The h to evaluate with (default: :func:`store_head`), as a :data:`~jaxconcepts.heads.Head`;
    a host head must have its gradient (Grad-CAM and IG rank the concepts through it)."""
    head = as_head(store_head(store) if head is None else head)
    if isinstance(head, HostHead) and head.grad is None:
        raise ValueError("the C2MF suite ranks concepts by Grad-CAM and IG, which through a "
                         "HostHead need its gradient: HostHead(fn, grad=...) "
                         "(features.torch_head_with_grad)")
    return head


def run_c2mf(store, cfg: C2MF, *, dataset: str, crops_path=None, truth=None,
             progress: bool = True, head=None):
    """Fit and evaluate every method and k; returns ``(metrics, arrays, loss_histories, fits)``
    (``fits``: :class:`C2MFFits`, None when no class had enough images).

    C2MF's classes (``cfg.labels``; :func:`~jaxconcepts.evaluation.load_image_rows`) and
    the head's outputs are kept apart: with ``labels: label`` on a folder whose classes are not the
    head's outputs (4 folders under a 1000-way ImageNet head) the gates, the split, every
    per-class table and ``metrics["classes"]`` are per folder class (named by the manifest's
    ``class_names``), while Grad-CAM, IG, insertion/deletion and the reconstructed predictions
    read the head's own outputs (each class's ``head_output`` in ``metrics["classes"]`` is the
    one CRAFT's Sobol indices score). Every check on params × store (labels, class sizes, k)
    runs before the head is built or anything is fitted. At the k of ``cfg.controls`` each fitted
    model's test-time controls (:data:`~jaxconcepts.evaluation.c2mf._fit_evaluate.CONTROLS`) are
    evaluated on the test images and reported under ``metrics["controls"][name]["results"]
    ["k<k>"]`` (the same fields as ``metrics["results"][method]["k<k>"]``, test MSE only).

    Args:
        store: the activation store. With a GAP + linear head (``store.head``) every metric runs
            in JAX; otherwise h is the rest of the network, run by torch (:func:`store_head`).
        cfg: the typed ``c2mf`` section (:class:`jaxconcepts.params.C2MF`, e.g. from
            :func:`jaxconcepts.params.load_section`), its seed resolved.
        crops_path: the ``crops`` stage's crop store (with ``craft_source: crops``).
        truth: planted ground truth of the store's images (``datasets.load_truth``) or ``None``.
        head: the h to evaluate with (default: :func:`store_head`).

    Raises:
        ValueError: bad params; ``labels`` that the store cannot give (see ``load_image_rows``);
            with ``labels: label``, a folder class with fewer than ``min_images`` images; no k
            feasible for any method, or (``cap_k: false``) a k larger than the data support.
            Each names the param to change.
        FloatingPointError: the C2MF objective became non-finite (the message names the step).
    """
    ks, methods = _check(cfg)
    rows = _load_rows(store, cfg, ks, methods, crops_path=crops_path)
    data, split, view = rows.data, rows.split, rows.view
    cname = _class_namer(store, data.space)
    head = _store_head(store, head)
    metrics = _header(store, cfg, dataset=dataset, data=data, split=split, cname=cname,
                      head=head, ks=ks)
    arrays: dict[str, np.ndarray] = {"classes": np.asarray(split.classes, np.int32)}
    histories: dict[int, np.ndarray] = {}
    if split.classes.size == 0:
        metrics["note"] = (f"no class with enough images: every class has fewer than "
                           f"{cfg.min_images} images, so nothing was fitted or evaluated")
        return metrics, arrays, histories, None

    for entry, out in zip(metrics["classes"], view.head_outputs()):
        entry["head_output"] = int(out)
    craft_rows, note = _sobol_rows(rows, cfg)
    if note is not None:
        metrics["craft_rows"] = note
    metrics["k_caps"] = {m: rows.caps[m] for m in methods}

    fit_kw = {k: getattr(cfg, k) for k in FIT_KEYS}
    stream_kw = {k: getattr(cfg, k) for k in STREAM_KEYS}
    key = jax.random.key(int(cfg.seed))
    get, models = _fit_cache(rows, key, stream_kw)
    ev = _Evaluation(view, head, rows.own_rows, craft_rows, key, cfg, stream_kw, cname, arrays,
                     histories)
    fitted, controls = _fit_and_evaluate(rows.plan, get, models, ev, progress=progress)
    metrics["results"] = _results(fitted)
    if cfg.controls:
        metrics["controls"] = _controls_report(controls)
    if cfg.ablation:
        metrics["ablation"] = _ablation(fitted, get, rows.caps, view, head, cfg)
    if truth is not None:
        from jaxconcepts.evaluation.c2mf._planted import planted_scores

        metrics["planted"] = planted_scores(truth, store.images, store.shape, view, fitted,
                                            batch_images=int(cfg.eval_batch),
                                            gate_threshold=float(cfg.gate_threshold))
    return metrics, arrays, histories, C2MFFits(view, get, rows.caps, fit_kw, key)


def split_seed_runs(store, cfg: C2MF, first: Mapping, *, dataset: str, crops_path=None,
                    head=None) -> dict | None:
    """Rerun the fits at one k for every seed of ``cfg.split_seeds`` and gather, with the
    stage's own run ``first`` (its ``metrics``), the per-seed values, intervals and verdicts
    (:func:`~jaxconcepts.evaluation.seed_summary`). None when ``split_seeds`` is empty or nothing
    was fitted."""
    from jaxconcepts.evaluation import seed_summary

    extra = [int(s) for s in cfg.split_seeds if int(s) != int(cfg.seed)]
    if not extra or not first.get("results"):
        return None
    k = int((list(cfg.controls) or list(cfg.k))[0])
    runs = [first]
    for s in extra:
        sub = dataclasses.replace(cfg, seed=s, k=[k], controls=[], ablation=False,
                                  alpha_sweep=[], atlas_k=None)
        runs.append(run_c2mf(store, sub, dataset=dataset, crops_path=crops_path, truth=None,
                             progress=False, head=head)[0])
    return seed_summary(runs, [int(cfg.seed), *extra], k)
