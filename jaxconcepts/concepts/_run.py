"""CGAP and CPHA concepts of every image of an activation store, batched (the ``concepts`` stage).

``run_concepts`` streams the store in fixed-size batches (the last one padded with masked rows, so
one compiled program serves the whole store; image ``i`` uses ``fold_in(key(seed), i)``, so results
do not depend on the batch size) and ``summarise`` reduces the per-image results to the stage's
metrics. ``cfg`` is the ``concepts`` params section as a dict (checked by
:mod:`jaxconcepts._params`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from tqdm import tqdm

__all__ = ["METHODS", "METRIC_NAMES", "run_concepts", "summarise"]

METHODS = ("cgap", "cpha")
METRIC_NAMES = ("silhouette", "calinski_harabasz", "davies_bouldin")


def _method_kwargs(cfg, method):
    kw = dict(
        n_concepts=cfg["n_concepts"], n_sub_concepts=cfg["n_sub_concepts"], n_init=cfg["n_init"],
        max_iter=cfg["max_iter"], tol=float(cfg["tol"]), group=cfg["group"],
    )
    if method == "cgap":
        kw["n_components"] = cfg["n_components"]
    return kw


def run_concepts(store, cfg: dict[str, Any], *, progress: bool = True):
    """Concepts of every image of ``store``; returns (arrays dict, timings dict).

    ``cfg`` is the ``concepts`` params section as a dict (checked by :mod:`jaxconcepts._params`).

    Arrays follow docs/ARCHITECTURE.md (``{m}_labels`` …, ``index``) plus ``{m}_n_sub_concepts``
    (N, K) and ``{m}_inertia`` (N,).
    """
    import jax
    import jax.numpy as jnp

    from jaxconcepts.concepts import cgap, cpha

    fns = {"cgap": cgap, "cpha": cpha}
    n = len(store)
    c = store.shape[0]
    if n == 0:
        raise ValueError(f"activation store {str(store.path)!r} holds no images")
    bs = min(cfg["batch_size"], n)
    key = jax.random.key(cfg["seed"])
    parts: dict[str, list] = {}
    seconds = {m: 0.0 for m in cfg["methods"]}
    first = {m: None for m in cfg["methods"]}
    bar = tqdm(total=n, desc="concepts", unit="img", disable=not progress)
    for batch in store.iter_batches(bs, fields=("activations", "index"), as_jax=False):
        A, index = batch["activations"], batch["index"]
        if not np.all(np.isfinite(A)):
            bad = index[~np.isfinite(A).all(axis=(1, 2, 3))]
            raise ValueError(f"non-finite activations for image ids {bad[:10].tolist()}")
        b = A.shape[0]
        mask = np.ones((bs, c), bool)
        if b < bs:  # pad the last batch: same shape, same compiled program
            mask[b:] = False
            A = np.concatenate([A, np.zeros((bs - b,) + A.shape[1:], A.dtype)])
            index = np.concatenate([index, np.full(bs - b, -1, index.dtype)])
        A_j = jnp.asarray(A)
        for m in cfg["methods"]:
            t0 = time.perf_counter()
            res = fns[m](A_j, jnp.asarray(mask), key=key, index=jnp.asarray(index),
                         **_method_kwargs(cfg, m))
            res = jax.device_get(res)
            dt = time.perf_counter() - t0
            if first[m] is None:
                first[m] = dt
            else:
                seconds[m] += dt
            for field in ("labels", "sub_labels", "n_concepts", "n_sub_concepts", "flags",
                          "metrics", "inertia"):
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
        for m in cfg["methods"]
    }
    return arrays, timings


def summarise(arrays: dict[str, np.ndarray], cfg: dict[str, Any]) -> dict[str, Any]:
    """Summary metrics per method (means over images with at least 2 concepts)."""
    out: dict[str, Any] = {"n_images": int(len(arrays["index"]))}
    k = cfg["n_concepts"]
    for m in cfg["methods"]:
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
