"""The synthetic ground's scoreboard rows (issue 24): every method at matched R², against its
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

A target that the knob's range cannot reach gives a row with ``"reached": False`` and no
recovery numbers. MCC, F1 and stability come from every seed's kept atoms; R² and dead latents
need the fitted model, so they average the seeds fitted by this call (all of them on a fresh
folder) and fall back to seed 0's sweep point when every seed was resumed from the folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from jaxconcepts.sae._baselines import atoms_of, paired_interval, random_directions
from jaxconcepts.sae._metrics import atom_recovery, mcc
from jaxconcepts.sae._stability import stability_runs
from jaxconcepts.sae._sweep import match_r2, score_fit

__all__ = ["METHOD_KNOBS", "synthetic_scoreboard"]

METHOD_KNOBS = {
    "topk": ("k", 1, 32), "batchtopk": ("k", 1, 32), "matryoshka": ("k", 1, 32),
    "archetypal": ("k", 1, 32), "jumprelu": ("sparsity", 1e-4, 3.0),
    "seminmf": ("k", 1, 64), "kmeans": ("k", 1, 64),
}


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


def synthetic_scoreboard(A, W_true, folder, *, methods: Sequence[str] = tuple(METHOD_KNOBS),
                         targets: Sequence[float] = (0.7, 0.9), seeds: Sequence[int] = range(5),
                         fit_kwargs: dict | None = None, seminmf_rows: int = 5000,
                         knobs: dict | None = None) -> list[dict]:
    """Rows ``{"method", "target", "knob", "value", "reached", "r2", "mcc", "f1", "dead",
    "random_mcc", "vs_random", "stability"}`` (module docstring); ``fit_kwargs`` go to
    ``fit_sae`` (width, epochs, batch_size, learning_rate, …); SemiNMF uses the first
    ``seminmf_rows`` rows (its dense updates scale with n); ``knobs`` overrides
    :data:`METHOD_KNOBS`' ``(knob, lo, hi)`` per method."""
    fit_kwargs = dict(fit_kwargs or {})
    seeds = [int(s) for s in seeds]
    folder = Path(folder)
    rows = []
    table = {**METHOD_KNOBS, **(knobs or {})}
    for method in methods:
        if method not in METHOD_KNOBS:
            raise ValueError(f"method={method!r}; valid choices: {list(METHOD_KNOBS)}")
        knob, lo, hi = table[method]
        fit, rand, A_m = _fitters(method, np.asarray(A, np.float32), fit_kwargs, seminmf_rows)
        matched = match_r2(lambda x, fit=fit: fit(x, seeds[0]), A_m, W_true, knob=knob, lo=lo,
                           hi=hi, targets=targets)
        for m in matched:
            row = {"method": method, **{k: m[k] for k in ("target", "knob", "value", "reached")}}
            if not m["reached"]:
                rows.append({**row, "r2_at_range_end": m["r2"]})
                continue
            x = m["value"]
            models = {}

            def fit_seed(s, x=x, fit=fit, models=models):
                models[s] = fit(x, s)
                return models[s]

            tag = f"{method}-r2_{m['target']}-{knob}_{x:g}"
            st = stability_runs(fit_seed, seeds, folder / tag,
                                settings={"method": method, knob: x, **fit_kwargs})
            Ws = [np.load(folder / tag / f"seed-{s:05d}.npz")["W"] for s in seeds]
            scores = [mcc(W, W_true) for W in Ws]
            rscores = [mcc(atoms_of(rand(x, s)), W_true) for s in seeds]
            fitted = [score_fit(models[s], A_m, W_true) for s in seeds if s in models]
            rows.append({
                **row, "mcc": float(np.mean(scores)),
                "f1": float(np.mean([atom_recovery(W, W_true)["f1"] for W in Ws])),
                "r2": float(np.mean([f["r2"] for f in fitted])) if fitted else m["r2"],
                "dead": float(np.mean([f["dead"] for f in fitted])) if fitted else m["dead"],
                "random_mcc": float(np.mean(rscores)),
                "vs_random": {k: v for k, v in paired_interval(scores, rscores).items()
                              if k != "differences"},
                "stability": {k: st[k] for k in ("mode", "pw_mcc", "shared", "pairs")},
            })
    return rows
