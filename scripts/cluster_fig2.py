"""Lambert et al. Fig. 2 on planted: per-label boxplots of SS/CHI/DBI, 4 algorithms, CGAP + CPHA.

Samples ``--per-class`` images of every class (not the first images of the store, which are all
one class), builds the long-format table (one record per image x method x algorithm) and draws it
with :func:`jaxconcepts.viz._paper_figures.plot_cluster_boxplots`. A stand-in until the compare
stage emits per-image metrics with labels.

    PYTHONPATH=$PWD python scripts/cluster_fig2.py [--per-class 4]
"""

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from jaxconcepts.features import ActivationStore
from jaxconcepts.stages.compare import _metrics, _ours, _sklearn_algo
from jaxconcepts.viz import save_png
from jaxconcepts.viz._paper_figures import plot_cluster_boxplots


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="planted")
    ap.add_argument("--per-class", type=int, default=4)
    ap.add_argument("--n", type=int, default=5)
    args = ap.parse_args()
    store = ActivationStore(f"data/{args.dataset}/activations")
    A = np.concatenate([b["activations"] for b in
                        store.iter_batches(256, fields=("activations",), as_jax=False)])
    index, target = store.read("index"), store.read("target")
    rng = np.random.default_rng(0)
    pick = np.sort(np.concatenate([rng.permutation(np.nonzero(target == c)[0])[:args.per_class]
                                   for c in np.unique(target)]))
    A, index, target = A[pick], index[pick], target[pick]
    names = store.manifest.get("class_names") or [str(c) for c in range(target.max() + 1)]
    recs = []
    cfg = {"seed": 0, "batch_size": 32, "n_init": 1}
    ours = _ours(A, index, args.n, cfg)
    for m, (met, nc, _, _) in ours.items():
        for i in range(len(A)):
            if nc[i] >= 2:
                recs.append({"method": m, "algorithm": "kmeans", "label": names[target[i]],
                             "ss": float(met[i, 0]), "chi": float(met[i, 1]),
                             "dbi": float(met[i, 2])})
    from sklearn.decomposition import PCA

    w = A.shape[-1]
    for i, a_img in enumerate(A):
        x = a_img.reshape(a_img.shape[0], -1)
        live = (x != 0).any(1)
        if live.sum() < args.n + 1:
            continue
        idx = x[live].argmax(1)
        pts = {"cgap": PCA(args.n - 1).fit_transform(x[live].astype(np.float64)),
               "cpha": np.stack([idx // w, idx % w], 1).astype(np.float64)}
        for m, p in pts.items():
            for algo in ("agglomerative", "birch", "gmm"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    lab = _sklearn_algo(algo, args.n, int(index[i]))(p)
                met = _metrics(p, lab)
                if met is not None:
                    recs.append({"method": m, "algorithm": algo, "label": names[target[i]],
                                 "ss": met[0], "chi": met[1], "dbi": met[2]})
    out = Path("docs/papers_study")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"cluster_fig2_{args.dataset}.json").write_text(json.dumps(recs))
    fig = plot_cluster_boxplots(recs, title=f"{args.dataset}: {args.per_class} images per label, "
                                            f"N={args.n}")
    save_png(fig, out / f"cluster_fig2_{args.dataset}.png", dpi=60)
    for m in ("cgap", "cpha"):
        for a in ("kmeans", "agglomerative", "birch", "gmm"):
            v = np.array([[r["ss"], r["chi"], r["dbi"]] for r in recs
                          if r["method"] == m and r["algorithm"] == a])
            print(m, a, len(v), np.round(v.mean(0), 3) if len(v) else None)


if __name__ == "__main__":
    main()
