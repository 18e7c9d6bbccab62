"""The synthetic ground's scoreboard rows: every method at matched R², against its
random counterpart, and its stability across seeds.

For each method and each target R² (0.7, 0.9), :func:`synthetic_scoreboard`:

1. finds the method's setting reaching the target on seed 0 (:func:`~jaxconcepts.sae.match_r2`);
2. fits that setting on ``seeds`` (≥ 5; each seed's atoms kept in ``folder``, so a killed run
   resumes per seed) and reports the mean MCC, F1 at ``|cos| ≥ 0.9``, R² and dead latents;
3. compares the seeds' MCC with the random counterpart's on the same seeds (paired 95 % t
   interval, :func:`~jaxconcepts.sae.paired_interval`): the random frozen-decoder SAE of the
   same method and setting (the archetypal SAE, whose atoms cannot be frozen, against TopK's
   random frozen decoder with the same ``k``), random Gaussian unit directions for SemiNMF and
   k-means;
4. reports the seeds' stability, PW-MCC and share of atoms found again at ``|cos| ≥ 0.9``
   (independent initialisations: "stable").

**C2MF, CRAFT and the per-class PCA** (``"c2mf"``, ``"craft"``, ``"pca"``;
:mod:`jaxconcepts.sae._classwise`) need each row's class ``y`` and, for the streamed C2MF and PCA,
the feature ``store`` holding ``A``; their knob is ``k`` (at most ``c``), their random
counterparts random directions of their shape, and CRAFT's NMF is fitted and scored on
``max(A, 0)`` (its rows' ``"data"`` says so).

**Streamed rows** (``streamed``: SAE methods): each of these methods is also fitted with
:func:`~jaxconcepts.sae.fit_sae_streamed` from ``store`` (the scale path: batches of
``batch_size`` rows in the store's order, no shuffling) at the setting its in-memory row matched,
on the same seeds, against its streamed random frozen decoder, and scored on the same rows: a
second row with ``"path": "streamed"`` beside the in-memory one (``"path": "in_memory"``).

A target that the knob's range cannot reach gives a row with ``"reached": False`` and no
recovery numbers. MCC, F1 and stability come from every seed's kept atoms; R² and dead latents
need the fitted model, so each seed's are written beside its atoms when it is fitted
(``score-SSSSS.json``), and a resumed row averages the same five seeds a fresh one does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from jaxconcepts._io import write_json
from jaxconcepts.sae._baselines import atoms_of, paired_interval, random_directions
from jaxconcepts.sae._classwise import CLASS_METHODS, class_fitters
from jaxconcepts.sae._metrics import atom_recovery, mcc
from jaxconcepts.sae._models import METHODS
from jaxconcepts.sae._stability import stability_runs
from jaxconcepts.sae._sweep import match_r2, score_fit

__all__ = ["METHOD_KNOBS", "synthetic_scoreboard"]

METHOD_KNOBS = {
    "topk": ("k", 1, 32), "batchtopk": ("k", 1, 32), "matryoshka": ("k", 1, 32),
    "archetypal": ("k", 1, 32), "jumprelu": ("sparsity", 1e-4, 3.0),
    "seminmf": ("k", 1, 64), "kmeans": ("k", 1, 64),
    "c2mf": ("k", 1, 32), "craft": ("k", 1, 32), "pca": ("k", 1, 32),
}
SAE_METHODS = METHODS  # the SAEs (jaxconcepts.sae._models)


def _fitters(method, A, fit_kwargs, seminmf_rows):
    from jaxconcepts.sae._dictionaries import fit_kmeans_dictionary, fit_seminmf
    from jaxconcepts.sae._train import fit_sae

    if method == "seminmf":
        Asub = A[:seminmf_rows]
        return (lambda x, s: fit_seminmf(Asub, int(x), key=jax.random.key(s), max_iter=50),
                lambda x, s: random_directions(int(x), A.shape[1], seed=s), Asub)
    if method == "kmeans":
        return (lambda x, s: fit_kmeans_dictionary(A, int(x), key=jax.random.key(s)),
                lambda x, s: random_directions(int(x), A.shape[1], seed=s), A)

    def knob(x):
        return {"sparsity": float(x)} if method == "jumprelu" else {"k": int(x)}

    def fit(x, s):
        return fit_sae(A, method=method, key=jax.random.key(s), **fit_kwargs, **knob(x))

    def rand(x, s):
        m = "topk" if method == "archetypal" else method
        return fit_sae(A, method=m, key=jax.random.key(s), freeze_decoder=True,
                       **fit_kwargs, **knob(x))

    return fit, rand, A


def _streamed_fitters(method, store, fit_kwargs):
    """``(fit, random)`` of :func:`fit_sae_streamed` from ``store`` (module docstring)."""
    from jaxconcepts.sae._train import fit_sae_streamed
    from jaxconcepts.streaming import RowsView

    kw = dict(fit_kwargs)
    probe = RowsView(store, prefetch=0)
    per_image = max(1, int(kw.pop("batch_size", 4096)) // probe.rows_per_image)
    rows = RowsView(store, images_per_batch=per_image, prefetch=0, cache_bytes=1 << 30)

    def knob(x):
        return {"sparsity": float(x)} if method == "jumprelu" else {"k": int(x)}

    def fit(x, s, freeze=False):
        m = "topk" if freeze and method == "archetypal" else method
        return fit_sae_streamed(rows, method=m, key=jax.random.key(s), init_seed=s,
                                freeze_decoder=freeze, **kw, **knob(x))

    return fit, (lambda x, s: fit(x, s, freeze=True))


def _score_file(run: Path, seed: int) -> Path:
    return run / f"score-{seed:05d}.json"


def _drop_unscored(run: Path, seeds) -> None:
    """Kept atoms without kept scores (a folder from before they were kept) are removed, so
    :func:`stability_runs` fits those seeds again: a resumed row reports what a fresh one does."""
    for s in seeds:
        atoms = run / f"seed-{s:05d}.npz"
        if atoms.is_file() and not _score_file(run, s).is_file():
            atoms.unlink()


def _score_setting(method, m, fit, rand, A_m, y_m, W_true, seeds, folder, settings):
    """One reached target's row: every seed's fit (resumable, its R² and dead latents kept
    beside its atoms), vs random, stability."""
    x, knob = m["value"], m["knob"]
    tag = f"{method}-r2_{m['target']}-{knob}_{x:g}"
    run = folder / tag
    _drop_unscored(run, seeds)

    def fit_seed(s):
        model = fit(x, s)
        f = score_fit(model, A_m, W_true, y_m)
        run.mkdir(parents=True, exist_ok=True)
        write_json(_score_file(run, s), {"r2": float(f["r2"]), "dead": float(f["dead"])})
        return model

    st = stability_runs(fit_seed, seeds, run, settings={**settings, knob: x})
    Ws = [np.load(run / f"seed-{s:05d}.npz")["W"] for s in seeds]
    scores = [mcc(W, W_true) for W in Ws]
    rscores = [mcc(atoms_of(rand(x, s)), W_true) for s in seeds]
    fitted = [json.loads(_score_file(run, s).read_text()) for s in seeds]
    return {
        "mcc": float(np.mean(scores)),
        "f1": float(np.mean([atom_recovery(W, W_true)["f1"] for W in Ws])),
        "r2": float(np.mean([f["r2"] for f in fitted])),
        "dead": float(np.mean([f["dead"] for f in fitted])),
        "random_mcc": float(np.mean(rscores)),
        "vs_random": {k: v for k, v in paired_interval(scores, rscores).items()
                      if k != "differences"},
        "stability": {k: st[k] for k in ("mode", "pw_mcc", "shared", "pairs")},
    }


def _method_rows(method, A, W_true, y, folder, *, targets, seeds, fit_kwargs, seminmf_rows,
                 knob_range, store, class_kwargs, streamed, n_classes):
    knob, lo, hi = knob_range
    if method in CLASS_METHODS:
        fit, rand, A_m = class_fitters(method, A, y, n_classes=n_classes, store=store,
                                       settings=class_kwargs.get(method, {}))
        hi, y_m = min(int(hi), A.shape[1]), y
        settings = {"method": method, "n_classes": n_classes, **class_kwargs.get(method, {})}
    else:
        fit, rand, A_m = _fitters(method, A, fit_kwargs, seminmf_rows)
        y_m, settings = None, {"method": method, **fit_kwargs}
    data = "max(A, 0)" if method == "craft" else "A"
    path = "streamed" if method in ("c2mf", "pca") else "in_memory"
    matched = match_r2(lambda x: fit(x, seeds[0]), A_m, W_true, knob=knob, lo=lo, hi=hi,
                       targets=targets, y=y_m)
    rows = []
    for m in matched:
        row = {"method": method, "path": path, "data": data,
               **{k: m[k] for k in ("target", "knob", "value", "reached")}}
        if not m["reached"]:
            rows.append({**row, "r2_at_range_end": m["r2"]})
            continue
        row["at_sparsest_end"] = m["at_sparsest_end"]
        rows.append({**row, **_score_setting(method, m, fit, rand, A_m, y_m, W_true, seeds,
                                             folder, settings)})
        if method in streamed:
            sfit, srand = _streamed_fitters(method, store, fit_kwargs)
            rows.append({**row, "path": "streamed", **_score_setting(
                f"{method}-streamed", m, sfit, srand, A_m, None, W_true, seeds, folder,
                {**settings, "path": "streamed"})})
    return rows


def synthetic_scoreboard(A, W_true, folder, *, methods: Sequence[str] = tuple(METHOD_KNOBS),
                         targets: Sequence[float] = (0.7, 0.9), seeds: Sequence[int] = range(5),
                         fit_kwargs: dict | None = None, seminmf_rows: int = 5000,
                         knobs: dict | None = None, y=None, store=None,
                         class_kwargs: dict | None = None, n_classes: int | None = None,
                         streamed: Sequence[str] = ()) -> list[dict]:
    """Rows ``{"method", "path", "data", "target", "knob", "value", "reached", "r2", "mcc",
    "f1", "dead", "random_mcc", "vs_random", "stability"}`` (module docstring); ``fit_kwargs``
    go to ``fit_sae`` (width, epochs, batch_size, learning_rate, …); SemiNMF uses the first
    ``seminmf_rows`` rows (its dense updates scale with n); ``knobs`` overrides
    :data:`METHOD_KNOBS`' ``(knob, lo, hi)`` per method.

    For C2MF / CRAFT / PCA: ``y`` ``(n,)`` the rows' classes, ``store`` the feature store that
    holds ``A`` (in its order), ``n_classes`` (default ``max(y) + 1``), ``class_kwargs``
    ``{"c2mf": {...}, "craft": {...}}`` (:func:`~jaxconcepts.sae._classwise.class_fitters`).
    ``streamed``: SAE methods also fitted streamed from ``store`` (a ``"path": "streamed"`` row
    after each reached in-memory row)."""
    fit_kwargs = dict(fit_kwargs or {})
    seeds = [int(s) for s in seeds]
    folder = Path(folder)
    table = {**METHOD_KNOBS, **(knobs or {})}
    for method in methods:
        if method not in METHOD_KNOBS:
            raise ValueError(f"method={method!r}; valid choices: {list(METHOD_KNOBS)}")
    bad = [m for m in streamed if m not in SAE_METHODS or m not in methods]
    if bad or (streamed and store is None):
        raise ValueError(f"streamed={list(streamed)}: each should be an SAE method among "
                         f"methods={list(methods)} (valid: {list(SAE_METHODS)}), with a store "
                         f"(got {store!r}); bad: {bad}")
    if n_classes is None:
        n_classes = 0 if y is None else int(np.max(y)) + 1
    rows = []
    for method in methods:
        rows += _method_rows(method, np.asarray(A, np.float32), W_true, y, folder,
                             targets=targets, seeds=seeds, fit_kwargs=fit_kwargs,
                             seminmf_rows=seminmf_rows, knob_range=table[method], store=store,
                             class_kwargs=dict(class_kwargs or {}), streamed=tuple(streamed),
                             n_classes=int(n_classes))
    return rows
