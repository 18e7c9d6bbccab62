"""The importance stage's computation: occlusion importance (Eq. 3) of every stored image's concepts
and sub-concepts, batch by batch over the store, with summary statistics.

Each batch is split along its batch axis over this process's devices (a 1-D ``"data"`` mesh, the
batch padded to a multiple of the device count; a ``HostHead`` runs on the host instead). With
many processes, process ``p`` of ``P`` handles store shards ``p, p + P, …`` and writes its own part
of ``data/<ds>/importance`` (:func:`write_importance`); :func:`load_importance` reads the parts as
one (:mod:`jaxconcepts._parts`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm import tqdm

from jaxconcepts._checks import check_choice
from jaxconcepts._parts import load_concepts, load_importance  # re-exported: the readers
from jaxconcepts.importance import concept_sizes, safetensors_metadata  # re-exported

__all__ = ["IMPORTANCE_METHODS", "TARGETS", "concept_sizes", "run_importance",
           "safetensors_metadata", "importance_stats", "write_importance", "load_concepts",
           "load_importance"]

IMPORTANCE_METHODS = ("cgap", "cpha")
TARGETS = ("pred", "label")


def _device_importance(head, *, n_concepts, n_sub, min_p, mesh):
    """The occlusion pipeline of a JAX head (closed form or callable), split over ``mesh``."""
    from jaxconcepts.heads import HeadParams
    from jaxconcepts.importance._occlusion import _pipeline
    from jaxconcepts.mesh import sharded_batch

    if isinstance(head, HeadParams):
        run = sharded_batch(lambda h, a, lab, sub, tgt: _pipeline(a, lab, sub, tgt, h, n_concepts,
                                                                  n_sub, min_p),
                            mesh, n_replicated=1)
        w = (np.asarray(head.weight, np.float32), np.asarray(head.bias, np.float32))
        return lambda *args: run(HeadParams(*w), *args)
    return sharded_batch(lambda a, lab, sub, tgt: _pipeline(a, lab, sub, tgt, head, n_concepts,
                                                            n_sub, min_p), mesh)


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
    process: tuple[int, int] | None = None,
    mesh=None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Importance arrays (ARCHITECTURE.md layout) for this process's stored images, and summary
    stats of them.

    Args:
        store: the activation store; concepts: the concepts' arrays (:func:`load_concepts`).
        head: ``HeadParams`` (closed form) or ``HostHead`` / JAX callable (see
            :func:`~jaxconcepts.importance.concept_importance`).
        n_concepts, n_sub: K and S (:func:`concept_sizes`).
        target: ``pred`` or ``label`` (the label when the image has one, else the prediction).
        batch_size: images per jitted call; min_p: p_t floor (``None`` = float32 eps).
        process: (index, count): this process handles store shards index, index + count, …
            (default: JAX's, one process -> the whole store).
        mesh: the ``"data"`` mesh a batch is split over (default: this process's devices).
    """
    from jaxconcepts.importance._occlusion import DEFAULT_MIN_P
    from jaxconcepts._parts import process_slot, process_view
    from jaxconcepts.mesh import local_mesh

    check_choice("importance.target", target, TARGETS)
    min_p = DEFAULT_MIN_P if min_p is None else float(min_p)
    store = process_view(store, *(process_slot() if process is None else process))
    mesh = local_mesh() if mesh is None else mesh
    n = len(store)
    pos = {int(i): r for r, i in enumerate(np.asarray(concepts["index"]))}
    out = _allocate(n, n_concepts, n_sub, methods)
    bs = max(1, min(int(batch_size), n))
    run = _batch_runner(head, n_concepts=n_concepts, n_sub=n_sub, min_p=min_p, mesh=mesh,
                        batch_size=bs)
    valid = np.zeros(n, bool)
    fallback = 0
    row = 0
    bar = tqdm(total=n, desc="importance", unit="img", disable=not progress)
    for batch in store.iter_batches(bs, as_jax=False):
        idx = np.asarray(batch.index)
        missing = [int(i) for i in idx if int(i) not in pos]
        if missing:
            raise ValueError(
                f"images {missing[:5]} of the store have no row in the concepts file; "
                "rerun `concepts`"
            )
        rows = np.array([pos[int(i)] for i in idx])
        tgt, fell_back = _batch_target(batch, target)
        fallback += fell_back
        b = len(idx)
        sl = slice(row, row + b)
        for m in methods:
            labels = concepts[f"{m}_labels"][rows]
            r = run(batch.activations, labels, concepts[f"{m}_sub_labels"][rows], tgt)
            out[f"{m}_importance"][sl] = np.asarray(r.importance)[:b]
            out[f"{m}_keep_importance"][sl] = np.asarray(r.keep_importance)[:b]
            out[f"{m}_sub_importance"][sl] = np.asarray(r.sub_importance)[:b]
            out[f"{m}_present"][sl] = _present(labels, n_concepts)
            out["p_t"][sl] = np.asarray(r.p_t)[:b]
            valid[sl] = np.asarray(r.valid)[:b]
        out["target"][sl], out["index"][sl] = tgt, idx
        row += b
        bar.update(b)
    bar.close()
    stats = importance_stats(out, concepts, methods=methods, n_concepts=n_concepts, min_p=min_p,
                             target=target, label_fallback_to_pred=fallback,
                             n_invalid_p_t=int((~valid).sum()))
    return out, stats


def _allocate(n: int, n_concepts: int, n_sub: int, methods) -> dict[str, np.ndarray]:
    """The zeroed importance arrays of ``n`` images (ARCHITECTURE.md layout)."""
    out = {
        f"{m}_{f}": np.zeros(
            (n, n_concepts) + ((n_sub,) if f == "sub_importance" else ()), np.float32
        )
        for m in methods
        for f in ("importance", "keep_importance", "sub_importance")
    }
    out.update({f"{m}_present": np.zeros((n, n_concepts), bool) for m in methods})
    out.update(
        p_t=np.zeros(n, np.float32), target=np.zeros(n, np.int32), index=np.zeros(n, np.int32)
    )
    return out


def _batch_target(batch, target: str) -> tuple[np.ndarray, int]:
    """``(B,)`` int32 the class each image of a batch explains (``pred``, or ``label`` when the
    image has one, else the prediction) and how many images fell back to the prediction."""
    pred = np.asarray(batch.pred)
    if target != "label":
        return pred.astype(np.int32), 0
    lab = np.asarray(batch.label)
    return np.where(lab >= 0, lab, pred).astype(np.int32), int((lab < 0).sum())


def _batch_runner(head, *, n_concepts, n_sub, min_p, mesh, batch_size: int):
    """``run(activations, labels, sub_labels, target)`` -> the ``ImportanceResult`` of one batch:
    a ``HostHead`` on the host (:func:`~jaxconcepts.importance.concept_importance`), any other
    head checked, then split over ``mesh`` (the batch padded to a multiple of the device count:
    dead channels, class 0; callers keep the first rows)."""
    from jaxconcepts.heads import HostHead, as_head
    from jaxconcepts.importance._occlusion import _validate, concept_importance
    from jaxconcepts.mesh import pad_rows, padded_size

    head = as_head(head)
    if isinstance(head, HostHead):
        def on_host(activations, labels, sub_labels, tgt):
            return concept_importance(activations, labels, sub_labels, tgt, head=head,
                                      n_concepts=n_concepts, n_sub=n_sub, min_p=min_p)

        return on_host
    device_run = _device_importance(head, n_concepts=n_concepts, n_sub=n_sub, min_p=min_p,
                                    mesh=mesh)
    padded = padded_size(batch_size, mesh.size)

    def on_device(activations, labels, sub_labels, tgt):
        _validate(activations, labels, sub_labels, tgt, head, n_concepts, n_sub, min_p)
        return device_run(  # padded rows: dead channels, class 0, dropped by the caller
            pad_rows(np.asarray(activations, np.float32), padded),
            pad_rows(labels.astype(np.int32), padded, -1),
            pad_rows(sub_labels.astype(np.int32), padded, -1),
            pad_rows(tgt, padded),
        )

    return on_device


def _present(labels: np.ndarray, n_concepts: int) -> np.ndarray:
    """``(N, K)`` whether concept k has a channel in the image (from ``(N, C)`` labels)."""
    return (labels[:, None, :] == np.arange(n_concepts)[None, :, None]).any(-1)


def importance_stats(out: dict[str, np.ndarray], concepts: dict[str, np.ndarray] | None, *,
                     methods,
                     n_concepts: int, min_p: float, target: str, label_fallback_to_pred: int,
                     n_invalid_p_t: int) -> dict[str, Any]:
    """Summary statistics of importance arrays ``out`` (any set of images). Which concepts each
    image has comes from ``out``'s ``{m}_present`` (so the whole output's summary needs no
    concepts file); ``concepts`` is only read for arrays written without it."""
    stats: dict[str, Any] = {
        "n_images": int(len(out["index"])),
        "n_invalid_p_t": int(n_invalid_p_t),
        "min_p": min_p,
        "target": target,
        "label_fallback_to_pred": int(label_fallback_to_pred),
        "p_t": {
            "mean": float(out["p_t"].mean()),
            "min": float(out["p_t"].min()),
            "max": float(out["p_t"].max()),
        },
    }
    for m in methods:
        imp, keep = out[f"{m}_importance"], out[f"{m}_keep_importance"]
        if f"{m}_present" in out:
            live = out[f"{m}_present"]  # (N, K)
        else:
            pos = {int(i): r for r, i in enumerate(np.asarray(concepts["index"]))}
            live = _present(concepts[f"{m}_labels"][[pos[int(i)] for i in out["index"]]],
                            n_concepts)
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
    return stats


def write_importance(directory, arrays: dict[str, np.ndarray], stats: dict[str, Any],
                     metadata: dict[str, str], *, concepts: dict[str, np.ndarray],
                     store_images: int, methods=IMPORTANCE_METHODS) -> dict[str, Any] | None:
    """Write this process's importance part to ``directory``; on process 0, once every part
    exists, return ``stats`` with the summary recomputed over the whole (``None`` elsewhere).

    ``stats`` is :func:`run_importance`'s (plus any stage fields, kept as they are).
    """
    from jaxconcepts._parts import gather_parts, process_slot, write_part

    p, n_proc = process_slot()
    info = {k: stats[k] for k in ("label_fallback_to_pred", "n_invalid_p_t")}
    write_part(directory, arrays, metadata, process_index=p, process_count=n_proc,
               store_images=store_images, info=info)
    whole = gather_parts(directory, stage="importance", process_index=p, process_count=n_proc)
    if whole is None:
        return None
    out = dict(stats, n_processes=n_proc)
    out.update(importance_stats(
        whole.arrays, concepts, methods=methods,
        n_concepts=whole.arrays[f"{methods[0]}_importance"].shape[1], min_p=stats["min_p"],
        target=stats["target"],
        label_fallback_to_pred=sum(i["label_fallback_to_pred"] for i in whole.infos),
        n_invalid_p_t=sum(i["n_invalid_p_t"] for i in whole.infos)))
    return out
