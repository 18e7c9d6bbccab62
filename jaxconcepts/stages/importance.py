"""Stage ``importance``: occlusion importance (Eq. 3) of every concept and sub-concept.

Reads the activation store and ``data/<ds>/concepts/concepts.safetensors``; writes
``data/<ds>/importance/importance.safetensors`` (format in docs/ARCHITECTURE.md) and a summary in
``reports/<ds>/importance.json``. Params (section ``importance``):

- ``target``: ``pred`` (the model's predicted class, default) or ``label`` (the image's label when
  it has one that is a model class, else the prediction).
- ``batch_size``: images per jitted call.
- ``min_p``: p_t below this gives importance 0 (see ``jaxconcepts.importance``); null = float32 eps.
- ``head``: ``auto`` (closed form when the store holds a GAP + linear head, else the torch head),
  ``closed_form`` or ``torch``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from jaxconcepts._io import load_arrays, save_arrays, write_json
from jaxconcepts.features import torch_head as _torch_head
from jaxconcepts.stages._common import (
    REPORTS,
    dataset_dir,
    dataset_params,
    load_params,
    stage_parser,
)

__all__ = ["METHODS", "concept_sizes", "main", "run_importance"]

METHODS = ("cgap", "cpha")
_TARGETS = ("pred", "label")
_HEADS = ("auto", "closed_form", "torch")


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file ({} when none)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return f.metadata() or {}


def concept_sizes(
    params: dict[str, Any],
    concepts: dict[str, np.ndarray],
    methods,
    metadata: dict[str, str] | None = None,
) -> tuple[int, int]:
    """(K, S): params ``concepts.n_concepts`` / ``n_sub_concepts``, else the concepts file's
    metadata of the same names, else the largest ids + 1; checked against the labels."""
    cfg, meta = params.get("concepts") or {}, metadata or {}
    k = cfg.get("n_concepts", meta.get("n_concepts"))
    s = cfg.get("n_sub_concepts", meta.get("n_sub_concepts"))
    found_k = max(int(concepts[f"{m}_labels"].max(initial=-1)) + 1 for m in methods)
    found_s = max(int(concepts[f"{m}_sub_labels"].max(initial=-1)) + 1 for m in methods)
    k = found_k if k is None else int(k)
    s = found_s if s is None else int(s)
    if found_k > k:
        raise ValueError(
            f"concepts file has concept ids up to {found_k - 1} but concepts.n_concepts={k}"
        )
    if found_s > s:
        raise ValueError(
            f"concepts file has sub-concept ids up to {found_s - 1} but concepts.n_sub_concepts={s}"
        )
    return max(k, 1), max(s, 0)


def run_importance(
    store,
    concepts: dict[str, np.ndarray],
    *,
    head,
    n_concepts: int,
    n_sub: int,
    target: str = "pred",
    batch_size: int = 32,
    min_p: float | None = None,
    methods=METHODS,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], dict]:
    """Importance arrays (ARCHITECTURE.md layout) for every stored image, and summary stats."""
    from jaxconcepts.importance import DEFAULT_MIN_P, concept_importance

    if target not in _TARGETS:
        raise ValueError(f"importance.target={target!r}; valid choices: {list(_TARGETS)}")
    min_p = DEFAULT_MIN_P if min_p is None else float(min_p)
    n = len(store)
    index = np.asarray(concepts["index"])
    pos = {int(i): r for r, i in enumerate(index)}
    out = {
        f"{m}_{f}": np.zeros(
            (n, n_concepts) + ((n_sub,) if f == "sub_importance" else ()), np.float32
        )
        for m in methods
        for f in ("importance", "keep_importance", "sub_importance")
    }
    out.update(
        p_t=np.zeros(n, np.float32), target=np.zeros(n, np.int32), index=np.zeros(n, np.int32)
    )
    valid = np.zeros(n, bool)
    fallback = 0
    row = 0
    bar = tqdm(total=n, desc="importance", unit="img", disable=not progress)
    for batch in store.iter_batches(batch_size):
        idx = np.asarray(batch.index)
        missing = [int(i) for i in idx if int(i) not in pos]
        if missing:
            raise ValueError(
                f"images {missing[:5]} of the store have no row in the concepts file; "
                "rerun `concepts`"
            )
        rows = np.array([pos[int(i)] for i in idx])
        pred = np.asarray(batch.pred)
        if target == "label":
            lab = np.asarray(batch.label)
            tgt = np.where(lab >= 0, lab, pred).astype(np.int32)
            fallback += int((lab < 0).sum())
        else:
            tgt = pred.astype(np.int32)
        sl = slice(row, row + len(idx))
        for m in methods:
            r = concept_importance(
                batch.activations,
                concepts[f"{m}_labels"][rows],
                concepts[f"{m}_sub_labels"][rows],
                tgt,
                head=head,
                n_concepts=n_concepts,
                n_sub=n_sub,
                min_p=min_p,
            )
            out[f"{m}_importance"][sl] = np.asarray(r.importance)
            out[f"{m}_keep_importance"][sl] = np.asarray(r.keep_importance)
            out[f"{m}_sub_importance"][sl] = np.asarray(r.sub_importance)
            out["p_t"][sl] = np.asarray(r.p_t)
            valid[sl] = np.asarray(r.valid)
        out["target"][sl], out["index"][sl] = tgt, idx
        row += len(idx)
        bar.update(len(idx))
    bar.close()
    stats = {
        "n_images": n,
        "n_invalid_p_t": int((~valid).sum()),
        "min_p": min_p,
        "target": target,
        "label_fallback_to_pred": fallback,
        "p_t": {
            "mean": float(out["p_t"].mean()),
            "min": float(out["p_t"].min()),
            "max": float(out["p_t"].max()),
        },
    }
    for m in methods:
        imp, keep = out[f"{m}_importance"], out[f"{m}_keep_importance"]
        lab = concepts[f"{m}_labels"][[pos[int(i)] for i in out["index"]]]
        live = (lab[:, None, :] == np.arange(n_concepts)[None, :, None]).any(-1)  # (N, K)
        has = live.any(1)
        vals = imp[live]
        stats[m] = {
            "mean_importance": float(vals.mean()) if vals.size else 0.0,
            "mean_top_importance": float(np.where(live, imp, -np.inf).max(1)[has].mean())
            if has.any()
            else 0.0,
            "mean_sum_importance": float(imp.sum(1).mean()),
            "fraction_negative": float((vals < 0).mean()) if vals.size else 0.0,
            "mean_keep_importance": float(keep[live].mean()) if vals.size else 0.0,
            "n_images_without_concepts": int((~has).sum()),
        }
    return out, stats


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    params = dataset_params(load_params(args.params), args.dataset)
    cfg = params.get("importance") or {}
    head_mode = cfg.get("head", "auto")
    if head_mode not in _HEADS:
        raise ValueError(f"importance.head={head_mode!r}; valid choices: {list(_HEADS)}")
    methods = tuple(cfg.get("methods") or METHODS)
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"importance.methods has {bad}; valid choices: {list(METHODS)}")

    from jaxconcepts.features import ActivationStore
    from jaxconcepts.importance import LinearHead

    store = ActivationStore(dataset_dir(args.dataset, "activations"))
    cpath = dataset_dir(args.dataset, "concepts") / "concepts.safetensors"
    if not cpath.is_file():
        raise FileNotFoundError(
            f"{str(cpath)!r} not found; run `jaxconcepts concepts --dataset {args.dataset}` first"
        )
    concepts = load_arrays(cpath)
    for m in methods:
        for f in ("labels", "sub_labels"):
            if f"{m}_{f}" not in concepts:
                raise ValueError(f"{str(cpath)!r} has no {m}_{f!s}; keys: {sorted(concepts)}")
    k, s = concept_sizes(params, concepts, methods, safetensors_metadata(cpath))

    if head_mode == "closed_form" and store.head is None:
        raise ValueError(
            "importance.head='closed_form' but the store's head is not GAP + linear "
            f"(manifest head.kind={store.manifest.get('head', {}).get('kind')!r})"
        )
    if head_mode != "torch" and store.head is not None:
        head, head_name = LinearHead(store.head.weight, store.head.bias), "closed_form (gap_linear)"
    else:
        head, head_name = _torch_head(store, params), "torch (model head on masked maps)"

    t0 = time.perf_counter()
    arrays, stats = run_importance(
        store,
        concepts,
        head=head,
        n_concepts=k,
        n_sub=s,
        target=cfg.get("target", "pred"),
        batch_size=int(cfg.get("batch_size", 32)),
        min_p=cfg.get("min_p"),
        methods=methods,
    )
    seconds = time.perf_counter() - t0
    stats.update(
        dataset=args.dataset,
        head=head_name,
        n_concepts=k,
        n_sub_concepts=s,
        methods=list(methods),
        seconds=round(seconds, 3),
    )
    save_arrays(
        dataset_dir(args.dataset, "importance") / "importance.safetensors",
        arrays,
        metadata={
            "n_concepts": str(k),
            "n_sub_concepts": str(s),
            "target": stats["target"],
            "min_p": repr(stats["min_p"]),
            "head": head_name,
        },
    )
    write_json(Path(REPORTS) / args.dataset / "importance.json", stats)


if __name__ == "__main__":
    main()
