"""Everything the ``c2mf`` stage writes, computed in memory before it writes anything
(:func:`c2mf_outputs`): the fits and their evaluation from :func:`~jaxconcepts.runners.run_c2mf`,
the headline numbers across split seeds, each method's concept atlas, the α sweep, the naming's
accuracy on objects and every image's codes. The stage writes them (``stages/_c2mf_write.py``:
the pages and figures are ``report``'s and ``viz``'s, above this layer). Under several processes
the fits and atlases are collective; :func:`c2mf_outputs` returns ``None`` on every process but
0, which writes.
"""

from __future__ import annotations

import dataclasses

from jaxconcepts._schema import C2MF

__all__ = ["C2MFOutputs", "c2mf_outputs"]


@dataclasses.dataclass
class C2MFOutputs:
    """Everything the stage writes: :func:`~jaxconcepts.runners.run_c2mf`'s four results, then
    the atlases (one per method, with CLIP's names where a CLIP model is set), the α sweep rows,
    the naming's accuracy on objects and every image's codes per atlas."""

    metrics: dict
    arrays: dict
    histories: dict
    fits: object
    atlases: list = dataclasses.field(default_factory=list)
    clip_names: dict = dataclasses.field(default_factory=dict)
    sweep: list = dataclasses.field(default_factory=list)
    naming_accuracy: object = None
    every: dict = dataclasses.field(default_factory=dict)


def _atlases(res: C2MFOutputs, store, cfg: C2MF, atlas, naming, load_image) -> None:
    """The concept atlas of each fitted method (collective: every process), into ``res``."""
    from jaxconcepts.evaluation.c2mf._atlas import fitted_atlases

    if res.fits is None or not cfg.atlas_k or store.head is None:
        return  # naming scores rows with a linear head
    res.atlases, res.clip_names = fitted_atlases(
        res.fits, store, [c["name"] for c in res.metrics["classes"]], load_image,
        methods=cfg.methods, k=cfg.atlas_k, gate_threshold=cfg.gate_threshold,
        max_concepts=atlas.max_concepts, top=naming.top, per_image=naming.per_image,
        n_words=naming.n_words, batch_images=cfg.eval_batch, max_images=atlas.max_images,
        clip_model=naming.clip_model, clip_checkpoint=naming.clip_checkpoint,
        clip_scale=naming.clip_scale)


def _sweep_and_naming(res: C2MFOutputs, store, cfg: C2MF, truth) -> None:
    """The α sweep on the fitted split and the naming's accuracy on objects, into ``res``."""
    from jaxconcepts.evaluation._image_split import store_head_outputs
    from jaxconcepts.evaluation.c2mf._alpha_sweep import sweep_fitted_split
    from jaxconcepts.evaluation.c2mf._atlas import objects_name_accuracy

    if res.fits is not None and cfg.alpha_sweep and store.head is not None:
        res.sweep = sweep_fitted_split(res.fits, store.head, alphas=cfg.alpha_sweep,
                                       k=cfg.sweep_k, gate_threshold=cfg.gate_threshold,
                                       seed=int(cfg.seed))
    if truth is not None and "objects" in truth.meta:  # does the naming name the objects?
        res.naming_accuracy = res.metrics["naming_accuracy"] = objects_name_accuracy(
            res.atlases, truth.meta, n_outputs=store_head_outputs(store),
            gate_threshold=cfg.gate_threshold, top=3)


def _every_code(res: C2MFOutputs, store, cfg: C2MF) -> None:
    """Every image's codes in each atlas's dictionary, into ``res``."""
    from jaxconcepts.evaluation.c2mf._atlas import all_codes

    res.every = {at.method: all_codes(res.fits.get(at.method, at.k), at.method, res.fits.view,
                                      grid=tuple(int(x) for x in store.shape[1:]),
                                      batch_images=cfg.eval_batch) for at in res.atlases}


def c2mf_outputs(store, cfg: C2MF, *, dataset: str, crops_path, truth, atlas, naming,
                 load_image) -> C2MFOutputs | None:
    """Everything the ``c2mf`` stage writes, computed and held in memory.

    ``cfg``: the typed ``c2mf`` section with its seed (:func:`jaxconcepts.params.with_seed`);
    ``atlas``, ``naming``: the ``atlas`` and ``naming`` sections; ``truth``: the test split's
    ground truth or ``None``; ``load_image(pos)``: the model's view of the store's image ``pos``.
    Collective under several processes; returns ``None`` on every process but 0."""
    import jax

    from jaxconcepts.runners._c2mf import run_c2mf, split_seed_runs

    res = C2MFOutputs(*run_c2mf(store, cfg, dataset=dataset, crops_path=crops_path, truth=truth))
    # the headline numbers across train/test splits (refits at one k; collective like the fits)
    res.metrics["split_seeds"] = split_seed_runs(store, cfg, res.metrics, dataset=dataset,
                                                 crops_path=crops_path)
    _atlases(res, store, cfg, atlas, naming, load_image)
    if jax.process_index() != 0:  # the fits (collective) are done; process 0 writes
        return None
    _sweep_and_naming(res, store, cfg, truth)
    _every_code(res, store, cfg)
    return res
