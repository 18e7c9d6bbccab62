"""The importance stage's computation: occlusion importance (Eq. 3) of every stored image's concepts
and sub-concepts, batch by batch over the store, with summary statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from jaxconcepts._checks import check_choice

__all__ = ["IMPORTANCE_METHODS", "TARGETS", "concept_sizes", "run_importance",
           "safetensors_metadata"]

IMPORTANCE_METHODS = ("cgap", "cpha")
TARGETS = ("pred", "label")


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file ({} when none)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return f.metadata() or {}


def concept_sizes(
    concepts: dict[str, np.ndarray],
    methods,
    metadata: dict[str, str] | None = None,
    *,
    n_concepts: int | None = None,
    n_sub: int | None = None,
) -> tuple[int, int]:
    """(K, S) of a concepts file: ``n_concepts`` / ``n_sub`` when given (the ``concepts`` params),
    else the file's metadata of the same names (written by the ``concepts`` stage), else the
    largest ids + 1.

    Raises:
      ValueError: the labels hold ids the sizes do not allow.
    """
    meta = metadata or {}
    k = n_concepts if n_concepts is not None else (meta.get("n_concepts") or None)
    s = n_sub if n_sub is not None else (meta.get("n_sub_concepts") or None)
    found_k = max(int(concepts[f"{m}_labels"].max(initial=-1)) + 1 for m in methods)
    found_s = max(int(concepts[f"{m}_sub_labels"].max(initial=-1)) + 1 for m in methods)
    k = found_k if k is None else int(k)
    s = found_s if s is None else int(s)
    if found_k > k:
        raise ValueError(
            f"concepts file has concept ids up to {found_k - 1} but n_concepts={k}"
        )
    if found_s > s:
        raise ValueError(
            f"concepts file has sub-concept ids up to {found_s - 1} but n_sub_concepts={s}"
        )
    return max(k, 1), max(s, 0)


def run_importance(
    store,
    concepts: dict[str, np.ndarray],
    *,
    head,
    n_concepts: int,
    n_sub: int,
    target: str,
    batch_size: int,
    min_p: float | None,
    methods=IMPORTANCE_METHODS,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], dict]:
    """Importance arrays (ARCHITECTURE.md layout) for every stored image, and summary stats.

    Args:
        store: the activation store; concepts: the concepts file's arrays.
        head: ``LinearHead`` (closed form) or ``HostHead`` / JAX callable (see
            :func:`~jaxconcepts.importance.concept_importance`).
        n_concepts, n_sub: K and S (:func:`concept_sizes`).
        target: ``pred`` or ``label`` (the label when the image has one, else the prediction).
        batch_size: images per jitted call; min_p: p_t floor (``None`` = float32 eps).
    """
    from jaxconcepts.importance._occlusion import DEFAULT_MIN_P, concept_importance

    check_choice("importance.target", target, TARGETS)
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
