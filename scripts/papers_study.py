"""Issue 13 numbers on the local stores: OOD/confidence (App. B-C), naming (App. E), atlas, α sweep.

Needs `extract` and `crops` for each dataset (and `train` for planted). Writes to
docs/papers_study/: ood.md, confidence.png, naming_<ds>.md, atlas_<ds>.png, gates_planted.png,
recipes_planted.md, alpha_sweep_planted.{md,png,json}. A stand-in for the stages that will wire
these library functions (see docs/PAPERS_FINDINGS.md).

    PYTHONPATH=$PWD python scripts/papers_study.py [--alphas 0 10 ...] [--k 16]
"""

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts._io import load_arrays
from jaxconcepts.concepts import fit_c2mf
from jaxconcepts.evaluation._alpha_sweep import alpha_sweep, alpha_sweep_table
from jaxconcepts.evaluation._naming import name_concepts, naming_table
from jaxconcepts.evaluation._ood import (confidence_study_from_msp, ood_table,
                                         stream_crop_confidence)
from jaxconcepts.features import ActivationStore
from jaxconcepts.features._labels import label_space
from jaxconcepts.viz import load_model_view, save_png
from jaxconcepts.viz._atlas import plot_concept_atlas, plot_gate_matrix, recipe_table
from jaxconcepts.viz._paper_figures import plot_alpha_sweep, plot_confidence_histograms

OUT = Path("docs/papers_study")


def rows_of(store):
    A = np.concatenate([np.asarray(b["activations"]) for b in
                        store.iter_batches(64, fields=("activations",), as_jax=False)])
    N, C, H, W = A.shape
    return A.transpose(0, 2, 3, 1).reshape(N, H * W, C)  # (N, p, C), row-major positions


def split(cls, frac, seed):
    rng = np.random.default_rng(seed)
    te = []
    for c in np.unique(cls):
        idx = np.nonzero(cls == c)[0]
        te += list(rng.permutation(idx)[: max(1, int(round(frac * idx.size)))])
    te = np.sort(np.asarray(te))
    return np.setdiff1d(np.arange(cls.size), te), te


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alphas", type=float, nargs="+",
                    default=[0.0, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5])
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--max-steps", type=int, default=300)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    studies, bb = {}, {}
    stores = {ds: ActivationStore(f"data/{ds}/activations") for ds in ("photos", "planted")}
    for ds, store in stores.items():
        msp, am = stream_crop_confidence(f"data/{ds}/crops", store.head,
                                         store_index=store.read("index"))
        studies[ds] = confidence_study_from_msp(store.read("logits"), msp, am)
        bb[ds] = store.manifest["model"]
    (OUT / "ood.md").write_text(ood_table(studies, backbones=bb) + "\n")
    save_png(plot_confidence_histograms(studies, title="max-softmax: complete images vs crops"),
             OUT / "confidence.png", dpi=70)
    summary = {ds: {"mu_full": s.mu_full, "mu_crops": s.mu_crops, "delta_mu": s.delta_mu,
                    "agree": s.agree, **s.metrics} for ds, s in studies.items()}
    print(json.dumps(summary, indent=1))

    key = jax.random.key(0)
    for ds, store in stores.items():
        A = rows_of(store)
        N, p, C = A.shape
        grid = store.shape[1:]
        head = store.head
        K = int(head.weight.shape[0])
        labels = label_space(K, store.manifest.get("class_names"))
        cls = store.read("target")
        if ds == "photos":  # one image per predicted class: one shared gate for the demo
            y_img, n_cls, cnames = np.zeros(N, int), 1, ["all images"]
            tr, te = np.arange(N), np.arange(N)
        else:
            y_img, n_cls, cnames = cls, K, labels.names
            tr, te = split(cls, 0.3, 0)
        model = fit_c2mf(A[tr].reshape(-1, C), np.repeat(y_img[tr], p), args.k, key=key,
                         n_classes=n_cls, max_steps=args.max_steps)
        U = np.asarray(model.transform(A.reshape(-1, C), np.repeat(y_img, p)))
        codes = U * np.asarray(model.gates)[np.repeat(y_img, p)]
        names = name_concepts(A.reshape(-1, C), codes, head, label_names=labels.names,
                              top=min(32, N * p), n_words=3, groups=np.repeat(np.arange(N), p),
                              per_group=4)
        (OUT / f"naming_{ds}.md").write_text(naming_table(
            names, title=f"{ds}: C2MF k={args.k} concepts named by {store.manifest['model']}'s "
                         f"head ({labels.source} labels)"))
        short = [n.words[0][0][:18] for n in names]
        imgs = np.stack([load_model_view(im["path"], store.manifest["preprocessing"])
                         for im in store.images])
        maps = codes.reshape(N, *grid, args.k).transpose(0, 3, 1, 2)
        gates = np.asarray(model.gates)
        fig = plot_concept_atlas(imgs, maps, top=5, names=short, gates=gates, class_names=cnames,
                                 concepts=range(min(args.k, 8)), title=f"{ds}: C2MF atlas")
        save_png(fig, OUT / f"atlas_{ds}.png", dpi=60)
        if ds == "planted":
            save_png(plot_gate_matrix(gates, cnames, title="planted: C2MF gates"),
                     OUT / "gates_planted.png", dpi=70)
            (OUT / "recipes_planted.md").write_text(recipe_table(gates, cnames, threshold=0.5,
                                                                 names=short))
            Wh, bh = jnp.asarray(head.weight), jnp.asarray(head.bias)
            rows = alpha_sweep(A[tr].reshape(-1, C), np.repeat(cls[tr], p), A[te], cls[te],
                               lambda r: r.mean(0) @ Wh.T + bh, alphas=args.alphas, k=args.k,
                               key=key, n_classes=K, n_head=K, gate_threshold=0.5,
                               label_test=store.read("label")[te], pred_test=store.read("pred")[te],
                               fit_kwargs={"max_steps": args.max_steps})
            (OUT / "alpha_sweep_planted.json").write_text(json.dumps(rows, indent=1))
            (OUT / "alpha_sweep_planted.md").write_text(alpha_sweep_table(
                rows, title=f"planted: α sweep, k={args.k} (α in fit_c2mf's units)"))
            save_png(plot_alpha_sweep(rows, title=f"planted α sweep (k={args.k})"),
                     OUT / "alpha_sweep_planted.png", dpi=70)
            print(alpha_sweep_table(rows))
        print(naming_table(names, title=ds))


if __name__ == "__main__":
    main()
