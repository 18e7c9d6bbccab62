"""Stage ``explore``: the concept explorer of one dataset, ``reports/<ds>/explorer/``.

A static page that opens from ``file://`` (no server, no network): images with their CGAP / CPHA
concepts and sub-concepts toggled over them, importance bars, the dictionary methods' code maps,
concept and class views, methods side by side, search, and concept suppression computed in the
page. It reads the store (activations, logits, images), the ``concepts`` and ``importance`` parts,
the ``c2mf`` stage's atlas and dictionaries (``data/<ds>/c2mf/``) and ``reports/<ds>/c2mf.json``,
and the crop store for each image's crops' confidence. A view whose stage is off for the dataset
says "not computed" and why. Params (section ``explorer``): ``chunk_size`` (images per data file),
``thumb`` (thumbnail side, px), ``workers`` (processes making the pictures), ``enabled``. The
layout is in :mod:`jaxconcepts.explorer._write`.
"""

from __future__ import annotations

import json
from pathlib import Path

from jaxconcepts._io import atomic_dir
from jaxconcepts.stages._common import (
    REPORTS, dataset_dir, stage_config, stage_parser, write_disabled,
)
from jaxconcepts.stages._store import open_store

__all__ = ["main"]


def _reconstruction(ds: str, atlases) -> dict:
    path = REPORTS / ds / "c2mf.json"
    if not path.is_file():
        return {}
    results = json.loads(path.read_text()).get("results") or {}
    return {at.method: (results.get(at.method, {}).get(f"k{at.k}") or {}).get("reconstruction", {})
            for at in atlases}


def _inputs(args):
    """The :class:`ExplorerInputs` of ``args.dataset`` from disk, with a note for each view off."""
    from jaxconcepts._io import load_arrays
    from jaxconcepts._parts import load_concepts, load_importance
    from jaxconcepts.explorer import ExplorerInputs, dictionary_codes
    from jaxconcepts.viz import class_namer
    from jaxconcepts.importance import concept_sizes

    ds = args.dataset
    concepts_cfg, importance_cfg, c2mf_cfg, crops_cfg, ood_cfg = stage_config(
        args, "concepts", "importance", "c2mf", "crops", "ood")
    store = open_store(args)
    inp = ExplorerInputs(dataset=ds, store=store, gate_threshold=float(c2mf_cfg.gate_threshold))
    notes = {}
    if concepts_cfg.enabled and importance_cfg.enabled:
        concepts, c_meta, _ = load_concepts(dataset_dir(ds, "concepts"))
        inp.importance, _, _ = load_importance(dataset_dir(ds, "importance"))
        inp.concepts = concepts
        methods = tuple(m for m in ("cgap", "cpha") if f"{m}_importance" in inp.importance)
        inp.n_concepts, inp.n_sub = concept_sizes(concepts, methods, c_meta)
    else:
        notes["clustering"] = "the concepts or importance stage is off for this dataset"
    atlas_file = dataset_dir(ds, "c2mf") / "atlas.safetensors"
    if not c2mf_cfg.enabled:
        notes["dictionaries"] = "c2mf.enabled is false for this dataset (see its c2mf.md)"
    elif store.head is None:
        notes["dictionaries"] = ("h is not GAP + linear: the c2mf stage names and codes no atlas "
                                 "(naming scores single rows with a linear head)")
    elif c2mf_cfg.atlas_k is None:
        notes["dictionaries"] = "c2mf.atlas_k is null: no atlas was coded"
    elif not atlas_file.is_file():
        notes["dictionaries"] = f"no atlas at {atlas_file}: run the c2mf stage"
    if c2mf_cfg.enabled and atlas_file.is_file():
        inp.atlases = dictionary_codes(atlas_file)
        inp.dictionaries = load_arrays(dataset_dir(ds, "c2mf") / "dictionaries.safetensors")
        inp.reconstruction = _reconstruction(ds, inp.atlases)
    crops = dataset_dir(ds, "crops")
    if store.head is None:
        notes["ood"] = "h is not GAP + linear: the crops' logits need it"
    elif not crops_cfg.enabled:
        notes["ood"] = "the crops stage is off for this dataset"
    elif not (crops / "manifest.json").is_file():
        notes["ood"] = f"no crop store at {crops}: run the crops stage"
    else:
        from jaxconcepts.evaluation.ood._confidence import stream_crop_confidence

        inp.crop_msp, inp.crop_pred = stream_crop_confidence(
            crops, store.head, store_index=store.read("index").astype(int))
        if not ood_cfg.enabled:
            notes["ood_study"] = "the ood stage is off; the crops' confidence is shown per image"
    # the head's output names: the store's class names when they are its outputs, else timm's
    # ImageNet lemmas read as data files (importing timm would cost the stage seconds)
    name_of = class_namer(store.manifest)
    n_out = int(store.read("logits").shape[1])
    inp.output_lemmas = [name_of(o) for o in range(n_out)]
    inp.output_names = [full.split(",")[0] for full in inp.output_lemmas]
    inp.notes = notes
    return inp


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    cfg = stage_config(args, "explorer")
    out = Path(REPORTS) / args.dataset / "explorer"
    if not cfg.enabled:
        write_disabled("explorer", args.dataset, dirs=[out])
        return
    from jaxconcepts.explorer import build_explorer

    inp = _inputs(args)
    with atomic_dir(out) as tmp:
        summary = build_explorer(tmp, inp, chunk_size=cfg.chunk_size, thumb=cfg.thumb,
                                 workers=cfg.workers)
    missing = summary.pop("missing")
    print(f"explorer ({args.dataset}): {summary}; {len(missing)} image(s) without a picture"
          f"{': ' + str(list(missing.items())[:3]) if missing else ''}; open {out}/index.html")


if __name__ == "__main__":
    main()
