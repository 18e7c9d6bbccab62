"""Stage ``figures``: concept overlays (§3.4, paper Figs. 3-6) as PNGs in ``reports/<ds>/figures/``.

For each drawn image: ``<index>_<method>.png`` (one panel per concept by decreasing I_l, titled with
A_N and I_l), ``<index>_<method>_sub.png`` (each concept's sub-concepts, normalised with the
parent's min / max) and ``<index>_compare.png`` (CGAP and CPHA rows, Fig. 6). ``figures.json``
describes every image (drawn or not): class names, p_t, flags with their reason, and the files, for
the ``report`` stage. Params (section ``figures``): ``max_images`` (N images drawn; flagged
images not drawn still get a described row), ``pick`` (``first``: the first N of the store;
``spread``: N evenly spaced, so every class folder of a sorted store), ``dpi``, ``workers``
(processes drawing the figures). What to draw is :mod:`jaxconcepts.viz._plan`'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from jaxconcepts._io import atomic_dir, write_json
from jaxconcepts.stages._common import (
    REPORTS, dataset_dir, stage_config, stage_parser, write_disabled,
)

from jaxconcepts.stages._store import open_store

__all__ = ["main"]

METHODS = ("cgap", "cpha")


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    cfg = stage_config(args, "figures")
    if not cfg.enabled:
        write_disabled("figures", args.dataset, dirs=[REPORTS / args.dataset / "figures"])
        return

    from jaxconcepts._parts import load_concepts, load_importance
    from jaxconcepts.importance import DEFAULT_MIN_P, concept_sizes
    from jaxconcepts.viz import class_namer, describe_images, pick_rows

    ds = args.dataset
    store = open_store(args)
    concepts, c_meta, _ = load_concepts(dataset_dir(ds, "concepts"))
    imp, i_meta, _ = load_importance(dataset_dir(ds, "importance"))
    methods = tuple(m for m in METHODS if f"{m}_importance" in imp)
    k, s = concept_sizes(concepts, methods, c_meta)
    if imp[f"{methods[0]}_importance"].shape[1] != k:
        raise ValueError(
            f"importance file has K={imp[f'{methods[0]}_importance'].shape[1]} concepts, "
            f"the concepts file K={k}; rerun `importance`"
        )
    man = store.manifest
    prep = man["preprocessing"]
    size = tuple(int(x) for x in prep["input_size"][-2:])
    min_p = float(i_meta.get("min_p") or DEFAULT_MIN_P)
    entries = describe_images(store.images, store.read("pred"), concepts, imp, methods, k, s, min_p,
                              class_namer(man))
    c_pos = {int(i): r for r, i in enumerate(concepts["index"])}
    i_pos = {int(i): r for r, i in enumerate(imp["index"])}

    picked = pick_rows(len(entries), cfg.max_images, cfg.pick)
    drawn = {r for r in picked if Path(entries[r]["path"]).is_file()}
    if picked and not drawn:
        raise FileNotFoundError(
            f"figures: none of the {len(picked)} images picked of {ds!r} is a file (e.g. "
            f"{entries[0]['path']!r}, recorded as {entries[0]['rel']!r} under image_root "
            f"{str(store.image_root)!r}); run `prepare` for this dataset, or point "
            "extract.image_root at the folder the store was extracted from"
        )
    with atomic_dir(Path(REPORTS) / ds / "figures") as tmp:
        bar = tqdm(total=len(drawn), desc="figures", unit="img")
        # the maps in JAX here; the drawing (matplotlib) in cfg.workers processes, batch by batch
        with _drawing_pool(cfg.workers, len(drawn)) as pool:
            _draw_batches(store, entries, drawn, methods, concepts, imp, c_pos, i_pos, k, s, size,
                          prep, tmp, cfg.dpi, pool, bar)
        bar.close()
        write_json(tmp / "figures.json", {
            "dataset": ds, "n_concepts": k, "n_sub_concepts": s, "methods": list(methods),
            "max_images": cfg.max_images, "pick": cfg.pick, "n_images": len(entries),
            "images": entries,
        })


def _draw(job) -> dict[str, str]:
    """Draw one image's figures into the output folder: ``{key: file name}``."""
    from jaxconcepts.viz import image_figures, load_model_view, save_png, to_gray

    e, prep, mine, row_imp, k, s, folder, dpi = job
    gray = to_gray(load_model_view(e["path"], prep))
    files = {}
    for key, name, fig in image_figures(e, gray, mine, row_imp, 0, k, s):
        save_png(fig, Path(folder) / name, dpi=dpi)
        files[key] = name
    return files


def _draw_batches(store, entries, drawn, methods, concepts, imp, c_pos, i_pos, k, s, size, prep,
                  tmp, dpi, pool, bar) -> None:
    """Compute the drawn images' concept maps a store batch at a time and draw them (``pool``:
    an executor, or None to draw here), filling each entry's ``files``."""
    from jaxconcepts.viz import concept_maps, sub_concept_maps

    row = 0
    for batch in store.iter_batches(8, fields=("activations", "index"), as_jax=False):
        rows = [r for r in range(row, row + len(batch["index"])) if r in drawn]
        a = batch["activations"][[r - row for r in rows]]
        row += len(batch["index"])
        if not rows:
            continue
        per_method, jobs = {}, []
        for m in methods:
            pick = [c_pos[entries[r]["index"]] for r in rows]
            lab, sub = concepts[f"{m}_labels"][pick], concepts[f"{m}_sub_labels"][pick]
            maps = np.asarray(concept_maps(a, lab, n_concepts=k, size=size).maps)
            sub_maps = (np.asarray(sub_concept_maps(a, lab, sub, n_concepts=k, n_sub=s,
                                                    size=size).maps) if s else None)
            per_method[m] = (lab, sub, maps, sub_maps)
        for j, r in enumerate(rows):
            e = entries[r]
            mine = {m: (lab[j], sub[j], maps[j], None if sm is None else sm[j])
                    for m, (lab, sub, maps, sm) in per_method.items()}
            row_imp = {kk: v[i_pos[e["index"]]][None] for kk, v in imp.items()
                       if kk.endswith("importance")}
            jobs.append((r, (e, prep, mine, row_imp, k, s, str(tmp), dpi)))
        todo = [job for _, job in jobs]
        for (r, _), files in zip(jobs, pool.map(_draw, todo) if pool else map(_draw, todo)):
            entries[r]["files"].update(files)
            bar.update(1)


def _drawing_pool(workers: int, n_images: int):
    """``workers`` spawned processes drawing figures (matplotlib is single-threaded; spawn, since
    forking a process that runs JAX can deadlock), or a null context for one worker or image."""
    import contextlib

    if workers <= 1 or n_images <= 1:
        return contextlib.nullcontext(None)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(min(workers, n_images),
                               mp_context=multiprocessing.get_context("spawn"))


if __name__ == "__main__":
    main()
