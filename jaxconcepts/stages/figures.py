"""Stage ``figures``: concept overlays (§3.4, paper Figs. 3-6) as PNGs in ``reports/<ds>/figures/``.

For each drawn image: ``<index>_<method>.png`` (one panel per concept by decreasing I_l, titled with
A_N and I_l), ``<index>_<method>_sub.png`` (each concept's sub-concepts, normalised with the
parent's min / max) and ``<index>_compare.png`` (CGAP and CPHA rows, Fig. 6). ``figures.json``
describes every image (drawn or not): class names, p_t, flags with their reason, and the files, for
the ``report`` stage. Params (section ``figures``): ``max_images`` (first N images drawn; flagged
images past N still get a described row), ``dpi``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from jaxconcepts._io import atomic_dir, load_arrays, write_json
from jaxconcepts.stages._common import (
    REPORTS,
    dataset_dir,
    dataset_params,
    load_params,
    stage_parser,
)
from jaxconcepts.stages.importance import METHODS, concept_sizes, safetensors_metadata

__all__ = ["class_namer", "image_flags", "main"]

FLAG_FEW, FLAG_ZERO = 1, 2  # bits of {m}_flags in concepts.safetensors (ARCHITECTURE.md)


def class_namer(manifest: dict[str, Any]) -> Callable[[int], str]:
    """Class index -> name: the manifest's class names, else timm's ImageNet info (1000 classes)."""
    names = manifest.get("class_names")
    if names:
        return lambda i: str(names[i]) if 0 <= i < len(names) else f"class {i}"
    if int((manifest.get("head") or {}).get("num_classes", 0)) == 1000:
        from timm.data import ImageNetInfo  # timm's bundled ImageNet-1k synsets and descriptions

        info = ImageNetInfo()
        return lambda i: info.index_to_description(int(i)) if 0 <= i < 1000 else f"class {i}"
    return lambda i: f"class {i}"


def image_flags(method: str, flags: int, n_found: int, n_concepts: int) -> list[str]:
    """Human-readable reasons for a concepts file's flag bits."""
    out = []
    if flags & FLAG_ZERO:
        out.append(f"{method.upper()}: all activations are zero, so there is no concept to show")
    elif flags & FLAG_FEW:
        out.append(
            f"{method.upper()}: fewer than {n_concepts} concepts ({n_found} found): too few "
            "distinct non-zero channels for the requested number of clusters"
        )
    return out


def _counts(labels, sub_labels, k, s):
    cnt = (labels[:, None] == np.arange(k)[None]).sum(0)
    sub = (
        (labels[:, None, None] == np.arange(k)[None, :, None])
        & (sub_labels[:, None, None] == np.arange(s)[None, None, :])
    ).sum(0)
    return cnt, sub


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    params = dataset_params(load_params(args.params), args.dataset)
    cfg = params.get("figures") or {}
    max_images = int(cfg.get("max_images", 16))
    dpi = int(cfg.get("dpi", 80))
    if max_images < 0:
        raise ValueError(f"figures.max_images={max_images} should be >= 0")

    from jaxconcepts.features import ActivationStore
    from jaxconcepts.viz import (
        concept_maps,
        load_model_view,
        plot_compare,
        plot_concepts,
        plot_sub_concepts,
        save_png,
        sub_concept_maps,
        to_gray,
    )

    ds = args.dataset
    store = ActivationStore(dataset_dir(ds, "activations"))
    paths = {
        "concepts": dataset_dir(ds, "concepts") / "concepts.safetensors",
        "importance": dataset_dir(ds, "importance") / "importance.safetensors",
    }
    for stage, p in paths.items():
        if not p.is_file():
            raise FileNotFoundError(
                f"{str(p)!r} not found; run `jaxconcepts {stage} --dataset {ds}` first"
            )
    concepts, imp = load_arrays(paths["concepts"]), load_arrays(paths["importance"])
    methods = tuple(m for m in METHODS if f"{m}_importance" in imp)
    k, s = concept_sizes(params, concepts, methods, safetensors_metadata(paths["concepts"]))
    if imp[f"{methods[0]}_importance"].shape[1] != k:
        raise ValueError(
            f"importance file has K={imp[f'{methods[0]}_importance'].shape[1]} concepts, "
            f"concepts params give K={k}; rerun `importance`"
        )
    man = store.manifest
    prep = man["preprocessing"]
    size = tuple(int(x) for x in prep["input_size"][-2:])
    name_of = class_namer(man)
    from jaxconcepts.importance import DEFAULT_MIN_P

    min_p = float(safetensors_metadata(paths["importance"]).get("min_p") or DEFAULT_MIN_P)
    c_pos = {int(i): r for r, i in enumerate(concepts["index"])}
    i_pos = {int(i): r for r, i in enumerate(imp["index"])}
    pred_all = store.read("pred")
    entries = []
    for row, im in enumerate(man["images"]):
        idx = int(im["index"])
        cr, ir = c_pos[idx], i_pos[idx]
        p_t, tgt = float(imp["p_t"][ir]), int(imp["target"][ir])
        e = {
            "index": idx,
            "path": im["path"],
            "name": Path(im["path"]).name,
            "label_name": im.get("label_name"),
            "pred": int(pred_all[row]),
            "pred_name": name_of(int(pred_all[row])),
            "target": tgt,
            "target_name": name_of(tgt),
            "p_t": p_t,
            "flags": [],
            "methods": {},
            "files": {},
        }
        if not p_t >= min_p:
            e["flags"].append(
                f"p_t = {p_t:.3g} is below min_p = {min_p:.3g}: Eq. 3 is undefined, "
                "importances are set to 0"
            )
        if not Path(im["path"]).is_file():
            e["flags"].append(f"image file {im['path']!r} is missing: no figure")
        for m in methods:
            lab = concepts[f"{m}_labels"][cr]
            cnt, _ = _counts(lab, concepts[f"{m}_sub_labels"][cr], k, s)
            n_found = (
                int(concepts[f"{m}_n_concepts"][cr])
                if f"{m}_n_concepts" in concepts
                else int((cnt > 0).sum())
            )
            flags = int(concepts[f"{m}_flags"][cr]) if f"{m}_flags" in concepts else 0
            e["flags"] += image_flags(m, flags, n_found, k)
            e["methods"][m] = {
                "n_concepts": n_found,
                "flags": flags,
                "importance": [round(float(x), 4) for x in imp[f"{m}_importance"][ir]],
                "channels": [int(x) for x in cnt],
            }
        entries.append(e)

    drawn = [r for r in range(min(max_images, len(entries))) if Path(entries[r]["path"]).is_file()]
    out_dir = Path(REPORTS) / ds / "figures"
    with atomic_dir(out_dir) as tmp:
        bar = tqdm(total=len(drawn), desc="figures", unit="img")
        row = 0
        for batch in store.iter_batches(8, fields=("activations", "index"), as_jax=False):
            rows = [r for r in range(row, row + len(batch["index"])) if r in set(drawn)]
            a = batch["activations"][[r - row for r in rows]]
            row += len(batch["index"])
            if not rows:
                continue
            per_method = {}
            for m in methods:
                lab = np.stack([concepts[f"{m}_labels"][c_pos[entries[r]["index"]]] for r in rows])
                sub = np.stack(
                    [concepts[f"{m}_sub_labels"][c_pos[entries[r]["index"]]] for r in rows]
                )
                maps = np.asarray(concept_maps(a, lab, n_concepts=k, size=size).maps)
                sub_maps = (
                    np.asarray(sub_concept_maps(a, lab, sub, n_concepts=k, n_sub=s, size=size).maps)
                    if s
                    else None
                )
                per_method[m] = (lab, sub, maps, sub_maps)
            for j, r in enumerate(rows):
                e = entries[r]
                gray = to_gray(load_model_view(e["path"], prep))
                ir = i_pos[e["index"]]
                title = (
                    f"{e['name']}: predicted {e['pred_name']} "
                    f"(target {e['target_name']}, p_t={e['p_t']:.3f})"
                )
                cmp_rows = {}
                for m, (lab, sub, maps, sub_maps) in per_method.items():
                    cnt, sub_cnt = _counts(lab[j], sub[j], k, s)
                    I = imp[f"{m}_importance"][ir]
                    cmp_rows[m] = (maps[j], I, cnt)
                    f = f"{e['index']:05d}_{m}.png"
                    save_png(
                        plot_concepts(gray, maps[j], I, cnt, title=f"{m.upper()} - {title}"),
                        tmp / f,
                        dpi=dpi,
                    )
                    e["files"][m] = f
                    if sub_maps is not None:
                        order = [l for l in np.argsort(-I, kind="stable") if cnt[l] > 0]
                        f = f"{e['index']:05d}_{m}_sub.png"
                        save_png(
                            plot_sub_concepts(
                                gray,
                                sub_maps[j],
                                imp[f"{m}_sub_importance"][ir],
                                sub_cnt,
                                [int(l) for l in order],
                                title=f"{m.upper()} sub-concepts - {title}",
                            ),
                            tmp / f,
                            dpi=dpi,
                        )
                        e["files"][f"{m}_sub"] = f
                f = f"{e['index']:05d}_compare.png"
                save_png(plot_compare(gray, cmp_rows, title=title), tmp / f, dpi=dpi)
                e["files"]["compare"] = f
                bar.update(1)
        bar.close()
        write_json(
            tmp / "figures.json",
            {
                "dataset": ds,
                "n_concepts": k,
                "n_sub_concepts": s,
                "methods": list(methods),
                "max_images": max_images,
                "n_images": len(entries),
                "images": entries,
            },
        )


if __name__ == "__main__":
    main()
