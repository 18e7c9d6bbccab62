"""Lambert et al.'s Tables 1 and 2 (§4.2) on our activations: clustering algorithms compared.

Table 1: for CGAP and CPHA, N = ``n_concepts`` concepts per image by k-means (ours, batched JAX)
and scikit-learn's Agglomerative (ward), Birch and Gaussian mixture run per image, as the paper
did; mean silhouette (SS), Calinski-Harabasz (CHI), Davies-Bouldin (DBI) and mean seconds per
image of the clustering step. Table 2: k-means (ours) for N in ``sweep``. Metrics are computed in
the space each algorithm clustered (CGAP: PCA to N - 1 dimensions; CPHA: argmax coordinates).
scikit-learn's algorithms get the PCA scores of scikit-learn's PCA (ours agree up to sign).
Images with fewer than N + 1 live channels are skipped for every algorithm (counted). The images
are a seeded sample stratified by class (:func:`load_subset`).

Fig. 2 of the paper (per-label boxplots) needs the per-image values: :func:`run_compare` keeps, for
every image, method and algorithm, one long-format record (``index``, ``label`` when labels are
given, ``method``, ``algorithm``, ``ss``, ``chi``, ``dbi``; NaN where undefined), under
``records``. The page of the results (the paper's values beside ours) is the report layer's:
:func:`jaxconcepts.report.compare_markdown`.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from tqdm import tqdm


__all__ = ["ALGORITHMS", "load_subset", "stratified_sample", "run_compare", "findings",
           "kmeans_claims", "records_csv"]

ALGORITHMS = ("kmeans", "agglomerative", "birch", "gmm")
METRICS = ("ss", "chi", "dbi")


def load_subset(store, n_images, *, seed: int):
    """Activations ``(n, C, H, W)`` and store ids of ``n_images`` images sampled across classes.

    Stratified by each image's class (its folder ``label`` when it has one, else its ``target``,
    the explained class: the classes of Fig. 2's boxplots), seeded: each class gives
    ``n_images / n_classes`` images (the remainder to randomly chosen classes; a class with fewer
    images gives all it has and the others fill in), so "mean over images" is a mean over classes
    too, not over the first images of the store (often one class). ``None`` = every image. The
    images keep store order.
    """
    meta = {f: [] for f in ("index", "target", "label")}
    for b in store.iter_batches(256, fields=("index", "target", "label"), as_jax=False):
        for f in meta:
            meta[f].append(b[f])
    if not meta["index"] or sum(len(v) for v in meta["index"]) == 0:
        raise ValueError(f"activation store {str(store.path)!r} holds no images")
    index = np.concatenate(meta["index"]).astype(np.int32)
    label = np.concatenate(meta["label"])
    target = np.where(label >= 0, label, np.concatenate(meta["target"]))
    keep = np.arange(index.size)
    if n_images is not None and n_images < index.size:
        keep = stratified_sample(target, n_images, seed=seed)
    take = set(keep.tolist())
    parts, pos = [], 0
    for b in store.iter_batches(256, fields=("activations",), as_jax=False):
        n = b["activations"].shape[0]
        sel = [i - pos for i in range(pos, pos + n) if i in take]
        if sel:
            parts.append(b["activations"][sel])
        pos += n
    return np.concatenate(parts), index[np.sort(keep)]


def stratified_sample(labels, n: int, *, seed: int) -> np.ndarray:
    """Sorted positions of ``n`` items drawn across the classes of ``labels`` as evenly as the
    class sizes allow (seeded)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.zeros(classes.size, np.int64)
    left = min(int(n), labels.size)
    while left > 0:  # water-filling: equal shares, capped by class size
        open_ = np.flatnonzero(quota < counts)
        share = max(left // open_.size, 1)
        for j in rng.permutation(open_):
            add = min(share, counts[j] - quota[j], left)
            quota[j] += add
            left -= add
            if left == 0:
                break
    picks = [rng.choice(np.flatnonzero(labels == c), q, replace=False)
             for c, q in zip(classes, quota) if q]
    return np.sort(np.concatenate(picks))


def _ours(A, index, n_concepts, cfg):
    """Batched k-means CGAP + CPHA; returns {method: (metrics (N, 3), n_concepts (N,), s/img)}."""
    import jax
    import jax.numpy as jnp

    from jaxconcepts.concepts import cgap, cpha

    key = jax.random.key(cfg["seed"])
    bs = min(cfg["batch_size"], len(A))
    out = {}
    for name, f in (("cgap", cgap), ("cpha", cpha)):
        kw = dict(n_concepts=n_concepts, n_sub_concepts=0, n_init=cfg["n_init"])
        if name == "cgap":  # a few hundred images at most: one padded size (concepts.n_buckets)
            kw["n_buckets"] = 1  # compiles in about half the time of the default's
        mets, ncs, secs, compile_s = [], [], 0.0, None
        for i in range(0, len(A), bs):
            a, ix = A[i:i + bs], index[i:i + bs]
            mask = np.ones(a.shape[:2], bool)
            if len(a) < bs:  # pad: one compilation
                mask = np.concatenate([mask, np.zeros((bs - len(a), a.shape[1]), bool)])
                ix = np.concatenate([ix, -np.ones(bs - len(a), np.int32)])
                a = np.concatenate([a, np.zeros((bs - len(a),) + a.shape[1:], a.dtype)])
            t0 = time.perf_counter()
            r = jax.block_until_ready(f(jnp.asarray(a), jnp.asarray(mask), key=key,
                                        index=jnp.asarray(ix), **kw))
            dt = time.perf_counter() - t0
            if compile_s is None:  # first call: compile + run; time it again for the table
                compile_s = dt
                t0 = time.perf_counter()
                r = jax.block_until_ready(f(jnp.asarray(a), jnp.asarray(mask), key=key,
                                            index=jnp.asarray(ix), **kw))
                dt = time.perf_counter() - t0
            secs += dt
            n = min(bs, len(A) - i)
            mets.append(np.asarray(r.metrics)[:n])
            ncs.append(np.asarray(r.n_concepts)[:n])
        out[name] = (np.concatenate(mets), np.concatenate(ncs), secs / len(A), compile_s)
    return out


def _sklearn_algo(name, n, seed):
    from sklearn.cluster import AgglomerativeClustering, Birch
    from sklearn.mixture import GaussianMixture

    if name == "agglomerative":
        return lambda x: AgglomerativeClustering(n_clusters=n).fit_predict(x)
    if name == "birch":
        return lambda x: Birch(n_clusters=n).fit_predict(x)
    if name == "gmm":
        return lambda x: GaussianMixture(n_components=n, random_state=seed).fit_predict(x)
    raise ValueError(f"algorithm={name!r}; valid choices: {list(ALGORITHMS)}")


def _metrics(x, lab):
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    k = len(np.unique(lab))
    if k < 2 or k >= len(lab):
        return None
    return [silhouette_score(x, lab), calinski_harabasz_score(x, lab),
            davies_bouldin_score(x, lab)]


def _sklearn_image(job) -> tuple[int, dict] | None:
    """One image's scikit-learn clusterings: ``(index, {method: {algo: (seconds, metrics)}})``,
    None with fewer than n + 1 live channels."""
    from sklearn.decomposition import PCA

    a_img, ix, n, algorithms, seed = job
    w = a_img.shape[-1]
    x = a_img.reshape(a_img.shape[0], -1)
    live = (x != 0).any(1)
    if live.sum() < n + 1:
        return None
    pts = {"cgap": PCA(n - 1).fit_transform(x[live].astype(np.float64))}
    idx = x[live].argmax(1)
    pts["cpha"] = np.stack([idx // w, idx % w], 1).astype(np.float64)
    out = {}
    for m, p in pts.items():
        out[m] = {}
        for algo in algorithms:
            fit = _sklearn_algo(algo, n, seed + int(ix))
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lab = fit(p)
            out[m][algo] = (time.perf_counter() - t0, _metrics(p, lab))
    return int(ix), out


def _sklearn_table(A, index, n, algorithms, seed, progress, workers: int = 1):
    """scikit-learn's algorithms per image, in ``workers`` spawned processes (each image is
    independent; scikit-learn runs these small fits on one core)."""
    rows = {m: {a: {"metrics": [], "seconds": 0.0, "undefined": 0, "per_image": {}}
                for a in algorithms} for m in ("cgap", "cpha")}
    jobs = [(np.asarray(a_img), int(ix), n, tuple(algorithms), seed) for a_img, ix in zip(A, index)]
    bar = tqdm(total=len(jobs), desc="compare (scikit-learn)", unit="img", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(jobs)), initializer=_one_blas_thread,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(_progress(pool.map(_sklearn_image, jobs, chunksize=4), bar))
    else:
        results = list(_progress(map(_sklearn_image, jobs), bar))
    bar.close()
    for res in results:
        if res is None:
            continue
        ix, per = res
        for m, algos in per.items():
            for algo, (secs, met) in algos.items():
                rows[m][algo]["seconds"] += secs
                rows[m][algo]["per_image"][ix] = met
                if met is None:
                    rows[m][algo]["undefined"] += 1
                else:
                    rows[m][algo]["metrics"].append(met)
    return rows


def _one_blas_thread() -> None:
    """In each worker: BLAS/OpenMP on one thread. The workers already use the cores; nested BLAS
    threads oversubscribe them (GMM's small matrix products ran ~10x slower)."""
    import os

    os.environ["OMP_NUM_THREADS"] = "1"  # for OpenMP runtimes loaded from here on
    import sklearn.cluster  # noqa: F401  (load scikit-learn's OpenMP before limiting it)
    import sklearn.mixture  # noqa: F401
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # and for those already loaded (numpy's BLAS)


def _progress(it, bar):
    for x in it:
        bar.update(1)
        yield x


def _summ(metrics, seconds_per_image, n_undefined):
    m = np.asarray(metrics, float).reshape(-1, 3)
    d = {k: (float(m[:, j].mean()) if len(m) else None) for j, k in enumerate(METRICS)}
    d["seconds_per_image"] = seconds_per_image
    d["n_images_defined"] = int(len(m))
    d["n_images_undefined"] = int(n_undefined)
    return d


def _records(index, labels, ours, rows, sk_algos) -> list[dict]:
    """Long format: one record per (image, method, algorithm); NaN metrics where undefined."""
    out = []
    for m in ("cgap", "cpha"):
        met, nc = ours[m][0], ours[m][1]
        for i, ix in enumerate(index):
            per = {"kmeans": met[i] if nc[i] >= 2 else None}
            per.update({a: rows[m][a]["per_image"].get(int(ix)) for a in sk_algos})
            for a, v in per.items():
                v = [float("nan")] * 3 if v is None else [float(x) for x in v]
                rec = {"index": int(ix), "method": m, "algorithm": a}
                if labels is not None:
                    rec["label"] = labels.get(int(ix), -1)
                out.append({**rec, **dict(zip(METRICS, v))})
    return out


def records_csv(records: list[dict]) -> str:
    """The long-format records as CSV (header from the first record; NaN written as ``nan``)."""
    if not records:
        return ""
    cols = list(records[0])
    lines = [",".join(cols)]
    for r in records:
        lines.append(",".join(f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c])
                              for c in cols))
    return "\n".join(lines) + "\n"


def run_compare(A, index, cfg, *, labels: dict[int, Any] | None = None,
                progress=True) -> dict[str, Any]:
    """Tables 1 and 2 on activations ``A`` (n, C, H, W) of store images ``index`` (n,).

    ``labels``: store index -> label of the image (for the per-label records of Fig. 2).
    Returns the tables, the findings and ``records`` (see the module docstring).
    """
    n = cfg["n_concepts"]
    valid = (A != 0).any((2, 3)).sum(1) >= n + 1
    skipped = int((~valid).sum())
    A, index = A[valid], index[valid]
    if len(A) == 0:
        raise ValueError(f"no image has at least n_concepts + 1 = {n + 1} live channels")
    sk_algos = [a for a in cfg["algorithms"] if a != "kmeans"]
    table1: dict[str, dict] = {"cgap": {}, "cpha": {}}
    compile_s = {}
    sweep_ns = sorted(set(cfg["sweep"]) | {n})
    ours_by_n = {}
    for k in tqdm(sweep_ns, desc="compare (k-means, ours)", disable=not progress):
        ours_by_n[k] = _ours(A, index, k, cfg)
    for m in ("cgap", "cpha"):
        met, nc, spi, comp = ours_by_n[n][m]
        ok = nc >= 2
        table1[m]["kmeans"] = _summ(met[ok], spi, (~ok).sum())
        compile_s[m] = comp
    rows = _sklearn_table(A, index, n, sk_algos, cfg["seed"], progress,
                          workers=int(cfg.get("workers", 1)))
    for m in ("cgap", "cpha"):
        for algo in sk_algos:
            r = rows[m][algo]
            table1[m][algo] = _summ(r["metrics"], r["seconds"] / len(A), r["undefined"])
    table2 = {m: {} for m in ("cgap", "cpha")}
    for k in cfg["sweep"]:
        for m in ("cgap", "cpha"):
            met, nc, spi, _ = ours_by_n[k][m]
            ok = nc >= 2
            table2[m][str(k)] = _summ(met[ok], spi, (~ok).sum())
    records = _records(index, labels, ours_by_n[n], rows, sk_algos)
    out = {
        "records": records,
        "n_images": int(len(A)),
        "n_images_skipped_too_few_channels": skipped,
        "n_concepts": n,
        "table1": table1,
        "table2": table2,
        "kmeans_compile_seconds": compile_s,
    }
    out["findings"] = findings(out)
    out["claims"] = kmeans_claims(records, seed=int(cfg["seed"]))
    return out


def kmeans_claims(records: list[dict], *, seed: int) -> dict:
    """"k-means clusters better than X" with intervals: per method, algorithm X and metric, the
    paired per-image difference oriented so that positive favours k-means (SS and CHI higher,
    DBI lower), its 95 % bootstrap interval over images and verdict
    (:func:`~jaxconcepts.evaluation._intervals.paired_difference`). Images where either side is
    undefined are left out."""
    from jaxconcepts.evaluation._intervals import paired_difference

    per: dict[tuple[str, str], dict[int, dict]] = {}
    for r in records:
        per.setdefault((r["method"], r["algorithm"]), {})[int(r["index"])] = r
    out: dict[str, dict] = {}
    for (m, algo), rows in sorted(per.items()):
        km = per.get((m, "kmeans"))
        if algo == "kmeans" or km is None:
            continue
        ids = sorted(set(rows) & set(km))
        out.setdefault(m, {})[algo] = {}
        for met in METRICS:
            a = np.array([_num(km[i].get(met)) for i in ids])
            b = np.array([_num(rows[i].get(met)) for i in ids])
            d = paired_difference(b, a, seed=seed) if met == "dbi" else \
                paired_difference(a, b, seed=seed)
            out[m][algo][met] = d
    return out


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def _best(table, metric, algos, higher):
    vals = {a: table[a][metric] for a in algos if table[a][metric] is not None}
    return (max if higher else min)(vals, key=vals.get) if vals else None


def _monotone(vals, decreasing):
    v = [x for x in vals if x is not None]
    pairs = list(zip(v, v[1:]))
    return bool(pairs) and all((b < a) if decreasing else (b > a) for a, b in pairs)


def findings(res: dict[str, Any]) -> dict[str, bool | None]:
    """The paper's §4.2 claims, checked on this run (None when not measurable here)."""
    t1, t2 = res["table1"], res["table2"]
    algos = list(t1["cgap"])
    f: dict[str, bool | None] = {}
    for m in ("cgap", "cpha"):
        f[f"{m}_kmeans_best_ss"] = _best(t1[m], "ss", algos, True) == "kmeans"
        f[f"{m}_kmeans_best_chi"] = _best(t1[m], "chi", algos, True) == "kmeans"
        f[f"{m}_kmeans_best_dbi"] = _best(t1[m], "dbi", algos, False) == "kmeans"
        if "gmm" in algos and len(algos) > 2:
            f[f"{m}_gmm_worst_all_metrics"] = (
                _best(t1[m], "ss", algos, False) == "gmm"
                and _best(t1[m], "chi", algos, False) == "gmm"
                and _best(t1[m], "dbi", algos, True) == "gmm"
            )
        sk = [a for a in algos if a != "kmeans"]
        if len(sk) >= 2:
            times = {a: t1[m][a]["seconds_per_image"] for a in sk}
            f[f"{m}_agglomerative_fastest_sklearn"] = (
                min(times, key=times.get) == "agglomerative" if "agglomerative" in sk else None)
            f[f"{m}_gmm_slowest_sklearn"] = (
                max(times, key=times.get) == "gmm" if "gmm" in sk else None)
    km_g, km_p = t1["cgap"]["kmeans"], t1["cpha"]["kmeans"]
    f["cpha_higher_chi_than_cgap"] = km_p["chi"] is not None and km_p["chi"] > (km_g["chi"] or 0)
    f["cpha_lower_dbi_than_cgap"] = km_p["dbi"] is not None and km_p["dbi"] < (km_g["dbi"] or 0)
    f["cpha_lower_ss_than_cgap"] = km_p["ss"] is not None and km_p["ss"] < (km_g["ss"] or 0)
    ns = sorted(t2["cgap"], key=int)
    if len(ns) >= 2:
        f["cgap_ss_decreases_with_n"] = _monotone([t2["cgap"][k]["ss"] for k in ns], True)
        f["cgap_chi_decreases_with_n"] = _monotone([t2["cgap"][k]["chi"] for k in ns], True)
        f["cpha_ss_increases_with_n"] = _monotone([t2["cpha"][k]["ss"] for k in ns], False)
        f["cpha_chi_increases_with_n"] = _monotone([t2["cpha"][k]["chi"] for k in ns], False)
    return f
