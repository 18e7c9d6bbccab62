"""Stage ``c2mf``: C2MF, CRAFT-style NMF and PCA concepts, evaluated as in the C2MF paper (§3.3).

Reads the activation store (and the ``crops`` stage's output for CRAFT), fits every method and k
streamed from the store (:func:`jaxconcepts.runners.c2mf_outputs`), and writes
(``stages/_c2mf_write.py``) the dictionaries (``data/<ds>/c2mf/``), the metrics,
tables, loss curves, concept atlas and α sweep (``reports/<ds>/c2mf*``) and the paper's
Figs. 2–4 (``reports/<ds>/c2mf_figures/``); the formats are in docs/ARCHITECTURE.md.
Everything is computed before anything is written: a NaN in the C2MF loss stops the stage with
the solver's error and leaves the previous outputs untouched. With ``c2mf.enabled: false``
nothing is fitted and every output says why. Under several processes (``JAX_*`` or SLURM
variables) the fits are collective and process 0 writes.
"""

from __future__ import annotations

import time

from jaxconcepts._schema import C2MF
from jaxconcepts.params import with_seed
from jaxconcepts.stages._common import REPORTS, dataset_dir, stage_config, stage_parser
from jaxconcepts.stages._store import open_store

__all__ = ["main"]


def _check_crops(cfg: C2MF, ds: str, crops) -> None:
    if "craft" in cfg.methods and cfg.craft_source == "crops" and not (
            crops / "manifest.json").is_file():
        raise FileNotFoundError(
            f"no crop activations at {str(crops)!r}: run `jaxconcepts crops --dataset "
            f"{ds}` (or `dvc repro`), or set c2mf.craft_source: rows")


def main(argv: list[str] | None = None) -> None:
    import jax

    from jaxconcepts.datasets import load_truth
    from jaxconcepts.runners import c2mf_outputs
    from jaxconcepts.stages._c2mf_write import write_c2mf, write_c2mf_disabled
    from jaxconcepts.streaming import initialize_distributed
    from jaxconcepts.viz import load_model_view

    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    section, seed, naming, atlas = stage_config(args, "c2mf", "seed", "naming", "atlas")
    initialize_distributed()  # JAX_* / SLURM variables; a no-op for one process
    cfg = with_seed(section, seed)
    ds, out, data_dir = args.dataset, REPORTS / args.dataset, dataset_dir(args.dataset, "c2mf")
    store = open_store(args)
    if not cfg.enabled:
        if jax.process_index() == 0:
            write_c2mf_disabled(store, dataset=ds, data_dir=data_dir, out=out, alpha=cfg.alpha)
        return
    crops = dataset_dir(ds, "crops")
    _check_crops(cfg, ds, crops)
    truth_dir = dataset_dir(ds, "prepare") / "truth"
    truth = load_truth(truth_dir, "test") if (truth_dir / "truth.json").is_file() else None
    images = store.images  # the manifest's records, resolved once (a list of every image)

    def load_image(pos):
        return load_model_view(images[pos]["path"], store.manifest["preprocessing"])

    t0 = time.perf_counter()
    res = c2mf_outputs(store, cfg, dataset=ds, crops_path=crops, truth=truth, atlas=atlas,
                       naming=naming, load_image=load_image)
    if res is None:  # not process 0: the collective work is done
        return
    res.metrics["seconds"] = round(time.perf_counter() - t0, 2)
    write_c2mf(res, dataset=ds, data_dir=data_dir, out=out, cfg=cfg, atlas=atlas,
               load_image=load_image)


if __name__ == "__main__":
    main()
