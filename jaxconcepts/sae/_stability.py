"""Stability across seeds, resumable per seed.

:func:`stability_runs` fits one method on ``≥ 5`` seeds and reports, over every pair of runs,
PW-MCC (mean matched ``|cos|``, arXiv 2505.20254) and the share of atoms found again at
``|cos| ≥ 0.9`` (:func:`~jaxconcepts.sae._metrics.stability`), plus each pair's PW-MCC.

**Stable vs stabilised.** ``init="independent"``: every seed draws its own initialisation — the
runs are *stable* only if the method finds the same atoms by itself. ``init="shared"`` (one
initialisation for every seed, only the data order differs) and ``"kmeans"`` (every seed starts
from the same k-means centroids, the Archetypal SAE paper's recipe) are *stabilised*: agreement
there is partly the shared start's, so the report keeps ``"mode": "stable"`` and
``"stabilised"`` apart and they must not be compared as one.

**Resume.** Each seed's dictionary is written to ``folder/seed-SSSSS.npz`` atomically (a
temporary file renamed on success), after its fit. ``folder/run.json`` records the settings; a
rerun with the same settings loads the seeds already written and fits only the missing ones,
so a run killed mid-way resumes per seed. A rerun with other settings raises ValueError rather
than mixing runs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np

from jaxconcepts._io import atomic_path, write_json
from jaxconcepts.sae._baselines import atoms_of
from jaxconcepts.sae._metrics import pairwise_mcc, stability

__all__ = ["INITS", "sae_stability", "stability_runs"]

INITS = ("independent", "shared", "kmeans")


def _seed_file(folder: Path, seed: int) -> Path:
    return folder / f"seed-{seed:05d}.npz"


def _save(path: Path, W: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, W=W)


def stability_runs(fit: Callable[[int], object], seeds: Sequence[int], folder, *,
                   settings: dict, init: str = "independent", threshold: float = 0.9,
                   min_seeds: int = 5) -> dict:
    """Fit ``fit(seed)`` for each seed (resuming from ``folder``) and score the runs' agreement.

    Args:
        fit: ``seed -> fitted model or (k, c) dictionary``; with ``init`` other than
            ``"independent"`` the caller's ``fit`` must share the initialisation itself
            (:func:`sae_stability` does).
        seeds: at least ``min_seeds`` (5) distinct seeds.
        folder: where each seed's atoms are kept (created).
        settings: JSON-able description of the method and setting; must match a previous run.
        init: one of :data:`INITS` (module docstring).

    Returns:
        ``{"mode", "init", "seeds", "fitted", "pw_mcc", "shared", "pairs", "pairwise",
        "settings"}``; ``fitted`` lists the seeds fitted by this call (the others were loaded).
    """
    if init not in INITS:
        raise ValueError(f"init={init!r}; valid choices: {list(INITS)}")
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds) or len(seeds) < max(2, min_seeds):
        raise ValueError(f"stability needs >= {max(2, min_seeds)} distinct seeds, got {seeds}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"settings": settings, "init": init}
    meta = json.loads(json.dumps(meta))  # canonical (tuples → lists) for the comparison
    run_file = folder / "run.json"
    if run_file.exists():
        old = json.loads(run_file.read_text())
        if old != meta:
            raise ValueError(f"{folder} holds a stability run with other settings ({old}); "
                             f"use another folder for {meta}")
    else:
        write_json(run_file, meta)
    Ws, fitted = [], []
    for s in seeds:
        path = _seed_file(folder, s)
        if path.exists():
            with np.load(path) as z:
                W = z["W"]
        else:
            W = atoms_of(fit(s))
            if not np.isfinite(W).all():
                raise FloatingPointError(f"seed {s}: non-finite atoms ({settings})")
            _save(path, W)
            fitted.append(s)
        Ws.append(W)
    st = stability(Ws, threshold=threshold)
    pairwise = np.eye(len(Ws))
    for i, j in itertools.combinations(range(len(Ws)), 2):
        pairwise[i, j] = pairwise[j, i] = pairwise_mcc(Ws[i], Ws[j])
    return {"mode": "stable" if init == "independent" else "stabilised", "init": init,
            "seeds": seeds, "fitted": fitted, **st, "pairwise": pairwise.tolist(),
            "settings": settings}


def sae_stability(A, seeds: Sequence[int], folder, *, init: str = "independent",
                  init_seed: int = 0, kmeans_iters: int = 25, **fit_kwargs) -> dict:
    """:func:`stability_runs` of ``fit_sae(A, **fit_kwargs)``.

    ``init="independent"``: seed ``s`` uses ``key(s)`` (its own decoder and data order);
    ``"shared"``: every seed uses ``key(init_seed)`` for the initialisation and ``key(s)`` for
    the data order; ``"kmeans"``: the decoder starts at the unit directions of the same k-means
    centroids (``width`` of them, ``kmeans_iters`` Lloyd steps from ``key(init_seed)``-chosen
    rows) for every seed, data order by ``key(s)`` (not for the archetypal SAE, whose atoms
    come from its own candidates).
    """
    from jaxconcepts.sae._dictionaries import fit_kmeans_dictionary
    from jaxconcepts.sae._train import fit_sae

    if init not in INITS:
        raise ValueError(f"init={init!r}; valid choices: {list(INITS)}")
    A = np.asarray(A, np.float32)
    settings = {k: v for k, v in fit_kwargs.items()}
    settings.update(n_rows=int(A.shape[0]), channels=int(A.shape[1]), init_seed=init_seed)
    if init == "kmeans":
        settings["kmeans_iters"] = kmeans_iters
    extra = {}

    def fit(s):
        if init == "independent":
            return fit_sae(A, key=jax.random.key(s), **fit_kwargs)
        if init == "kmeans" and "decoder_init" not in extra:
            km = fit_kmeans_dictionary(A, fit_kwargs["width"], key=jax.random.key(init_seed),
                                       n_iter=kmeans_iters)
            extra["decoder_init"] = np.asarray(km.centroids)
        return fit_sae(A, key=jax.random.key(init_seed), order_key=jax.random.key(s),
                       **extra, **fit_kwargs)

    return stability_runs(fit, seeds, folder, settings=settings, init=init)
