"""CGAP and CPHA concepts of every image of an activation store, batched (the ``concepts`` stage).

``run_concepts`` streams the store in fixed-size batches (the last one, or a store smaller than a
batch, padded with masked rows, so one compiled program serves the whole store and any other
store of the same channels and map size; image ``i`` uses ``fold_in(key(seed), i)``, so results
do not depend on the batch size) and ``summarise`` reduces the per-image results to the stage's
metrics. ``cfg`` is the typed ``concepts`` section (:class:`jaxconcepts.params.Concepts`).

Each batch is split along its batch axis over this process's devices (a 1-D ``"data"`` mesh; the
batch is padded to a multiple of the device count); with many processes, process ``p`` of ``P``
handles store shards ``p, p + P, …`` and writes its own part of ``data/<ds>/concepts``
(:func:`write_concepts`); :func:`load_concepts` reads the parts as one
(:mod:`jaxconcepts._parts`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

if TYPE_CHECKING:
    from jaxconcepts._schema import Concepts

__all__ = ["METHODS", "METRIC_NAMES", "KEPT_FIELDS", "run_concepts", "summarise",
           "write_concepts"]

METHODS = ("cgap", "cpha")
METRIC_NAMES = ("silhouette", "calinski_harabasz", "davies_bouldin")
#: per-method arrays written to the concepts parts (``{m}_<field>``), besides ``index``
KEPT_FIELDS = ("labels", "sub_labels", "n_concepts", "n_sub_concepts", "flags", "metrics")
_FIELDS = ("labels", "sub_labels", "n_concepts", "n_sub_concepts", "flags", "metrics", "inertia")


def _method_kwargs(cfg, method):
    kw = dict(
        n_concepts=cfg.n_concepts, n_sub_concepts=cfg.n_sub_concepts, n_init=cfg.n_init,
        max_iter=cfg.max_iter, tol=float(cfg.tol),
    )
    if method == "cpha":
        kw["group"] = cfg.group
    if method == "cgap":
        kw["n_components"] = cfg.n_components
        kw["n_buckets"] = cfg.n_buckets
    return kw


def run_concepts(store, cfg: Concepts, *, progress: bool = True, mesh=None):
    """Concepts of every image of ``store``; returns (arrays dict, timings dict).

    ``cfg`` is the typed ``concepts`` section (:class:`jaxconcepts.params.Concepts`);
    ``mesh``: the 1-D ``"data"`` mesh the batch axis is split over (default: this process's
    devices).

    Arrays follow docs/ARCHITECTURE.md (``{m}_labels`` …, ``index``) plus ``{m}_n_sub_concepts``
    (N, K) and ``{m}_inertia`` (N,).
    """
    import jax

    from jaxconcepts.concepts import cgap, cpha
    from jaxconcepts.mesh import local_mesh, pad_rows, padded_size, sharded_batch

    fns = {"cgap": cgap, "cpha": cpha}
    n = len(store)
    if n == 0:
        raise ValueError(f"activation store {str(store.path)!r} holds no images")
    mesh = local_mesh() if mesh is None else mesh
    # the full batch even for a smaller store: stores with the same channels share a program
    bs = cfg.batch_size
    padded = padded_size(bs, mesh.size)
    key = jax.random.key(cfg.seed)

    def per_method(m):
        kw = _method_kwargs(cfg, m)
        return sharded_batch(lambda A, mask, index: fns[m](A, mask, key=key, index=index, **kw),
                             mesh)

    run = {m: per_method(m) for m in cfg.methods}
    parts: dict[str, list] = {}
    seconds = {m: 0.0 for m in cfg.methods}
    first = {m: None for m in cfg.methods}
    bar = tqdm(total=n, desc="concepts", unit="img", disable=not progress)
    for batch in store.iter_batches(bs, fields=("activations", "index"), as_jax=False):
        A, index = batch["activations"], batch["index"]
        if not np.all(np.isfinite(A)):
            bad = index[~np.isfinite(A).all(axis=(1, 2, 3))]
            raise ValueError(f"non-finite activations for image ids {bad[:10].tolist()}")
        b = A.shape[0]
        # pad every batch to one size (a multiple of the devices): one compiled program
        mask = pad_rows(np.ones((b, A.shape[1]), bool), padded, False)
        A, index = pad_rows(A, padded), pad_rows(np.asarray(index, np.int32), padded, -1)
        for m in cfg.methods:
            t0 = time.perf_counter()
            res = jax.device_get(run[m](A, mask, index))
            dt = time.perf_counter() - t0
            if first[m] is None:
                first[m] = dt
            else:
                seconds[m] += dt
            for field in _FIELDS:
                parts.setdefault(f"{m}_{field}", []).append(np.asarray(getattr(res, field))[:b])
        parts.setdefault("index", []).append(np.asarray(index[:b], np.int32))
        bar.update(b)
    bar.close()
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    n_timed = max(n - bs, 0)
    timings = {
        m: {
            "first_batch_seconds_incl_compile": first[m],
            "seconds_per_image": (seconds[m] / n_timed) if n_timed else None,
        }
        for m in cfg.methods
    }
    return arrays, timings


def write_concepts(store, cfg: Concepts, directory, *, progress: bool = True):
    """The ``concepts`` stage's work on this process: its shards of ``store``, its part in
    ``directory``; on process 0, once every part exists, the summary of the whole (``None`` on
    the other processes). One process: one part, the whole store.
    """
    from jaxconcepts._parts import gather_parts, process_slot, process_view, write_part
    from jaxconcepts.mesh import local_mesh

    p, n_proc = process_slot()
    mesh = local_mesh()
    arrays, timings = run_concepts(process_view(store, p, n_proc), cfg, progress=progress,
                                   mesh=mesh)
    keep = ["index"] + [f"{m}_{f}" for m in cfg.methods for f in KEPT_FIELDS]
    meta = {
        "n_concepts": str(cfg.n_concepts),
        "n_sub_concepts": str(cfg.n_sub_concepts),
        "seed": str(cfg.seed),
        "methods": ",".join(cfg.methods),
        "metrics": ",".join(METRIC_NAMES),
    }
    info = {"n_devices": int(mesh.size)}
    if n_proc > 1:  # the other processes' timings reach process 0 through their parts (whose
        info["timings"] = timings  # bytes then vary run to run; one process: the part does not)
    write_part(directory, {k: arrays[k] for k in keep}, meta, process_index=p,
               process_count=n_proc, store_images=len(store), info=info)
    whole = gather_parts(directory, stage="concepts", process_index=p, process_count=n_proc)
    if whole is None:
        return None
    summary = summarise(whole.arrays, cfg)
    summary["n_processes"] = n_proc
    summary["n_devices_per_process"] = [i["n_devices"] for i in whole.infos]
    summary["timings"] = timings  # process 0's
    if n_proc > 1:
        summary["timings_per_process"] = [i["timings"] for i in whole.infos]
    return summary


def summarise(arrays: dict[str, np.ndarray], cfg: Concepts) -> dict[str, Any]:
    """Summary metrics per method (means over images with at least 2 concepts)."""
    out: dict[str, Any] = {"n_images": int(len(arrays["index"]))}
    k = cfg.n_concepts
    for m in cfg.methods:
        met, flags, nc = arrays[f"{m}_metrics"], arrays[f"{m}_flags"], arrays[f"{m}_n_concepts"]
        ok = nc >= 2
        labels = arrays[f"{m}_labels"]
        live = labels >= 0
        sizes = np.stack([(labels == j).sum(1) for j in range(k)], 1)  # (N, K)
        s: dict[str, Any] = {
            "n_defined": int(ok.sum()),
            "n_flag_fewer_concepts": int(((flags & 1) > 0).sum()),
            "n_flag_all_zero": int(((flags & 2) > 0).sum()),
            "mean_n_concepts": float(nc.mean()),
            "mean_live_channels": float(live.sum(1).mean()),
            "mean_concept_size": [float(v) for v in sizes.mean(0)],
            "mean_n_sub_concepts": float(arrays[f"{m}_n_sub_concepts"][ok].mean())
            if ok.any() else 0.0,
        }
        for j, name in enumerate(METRIC_NAMES):
            s[f"mean_{name}"] = float(met[ok, j].mean()) if ok.any() else None
            s[f"median_{name}"] = float(np.median(met[ok, j])) if ok.any() else None
        out[m] = s
    return out
