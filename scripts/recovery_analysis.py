"""Why is concept importance no better than a random channel grouping? Diagnostics beyond the
recovery stage's.

Run after the pipeline's stages up to ``importance`` on a dataset with planted ground truth:

    PYTHONPATH=$PWD python scripts/recovery_analysis.py [--seeds 10] [--dataset planted]
        [--data data] > out.json

Reads ``<data>/<dataset>/{activations,concepts,importance,prepare/truth}`` (nothing is written).
Prints JSON: per source the importance AUROC (defining vs other concepts), the AUROC that concept
*size* (channels) alone reaches on the same pairs, importance per channel, the keep-only and
logit-drop importances, category shares by size, and the spread of the random baseline over
seeds. The ``recovery`` stage reports the importance AUROC, the size-only AUROC and the paired
random baseline with intervals (``reports/<dataset>/recovery.md``); this script adds the rest.
"""

import argparse
import json

import jax
import numpy as np

from jaxconcepts.concepts import group_maps, load_concepts
from jaxconcepts.datasets import load_truth
from jaxconcepts.evaluation import match_rows, random_grouping, score_maps
from jaxconcepts.store import ActivationStore
from jaxconcepts.importance import concept_importance, load_importance


def pair_auroc(x, pos, neg):
    xp, xn = x[pos], x[neg]
    if xp.size == 0 or xn.size == 0:
        return np.nan
    d = xp[:, None] - xn[None, :]
    return float((d > 0).mean() + 0.5 * (d == 0).mean())


def per_image(score, cat, valid, ok):
    out = []
    for i in np.nonzero(ok)[0]:
        v = valid[i]
        out.append(pair_auroc(score[i], v & (cat[i] == 0), v & (cat[i] != 0)))
    out = np.asarray(out)
    return float(np.nanmean(out)), int(np.isfinite(out).sum())


def per_image_array(score, cat, valid):
    return np.array([pair_auroc(score[i], valid[i] & (cat[i] == 0), valid[i] & (cat[i] != 0))
                     for i in range(score.shape[0])])


def logit_importance(acts, labels, target, head, K):
    """Drop of the target logit when a concept's channels are zeroed (GAP + linear head)."""
    pooled = acts.mean((-2, -1))  # (B, C)
    w = np.asarray(head.weight)[target]  # (B, C)
    contrib = pooled * w
    return np.stack([(contrib * (labels == k)).sum(-1) for k in range(K)], 1)


def analyse(name, labels, imp, acts, truth, tr, recipes, ok, K):
    maps = np.asarray(group_maps(acts, labels, n_groups=K))
    sizes = (labels[:, None, :] == np.arange(K)[None, :, None]).sum(-1)  # (B, K) channels
    valid = (sizes > 0) & (maps.reshape(*maps.shape[:2], -1).max(-1) > 0)
    sc = score_maps(maps, valid, truth.part_map[tr], truth.present[tr],
                    recipes[truth.label[tr]], imp)
    cat = np.asarray(sc.category)
    mass = np.asarray(sc.defining_mass)
    res = {}
    res["imp_auroc"], res["n_images"] = per_image(imp, cat, valid, ok)
    res["size_auroc"], _ = per_image(sizes.astype(float), cat, valid, ok)
    res["imp_per_channel_auroc"], _ = per_image(imp / np.maximum(sizes, 1), cat, valid, ok)
    res["mass_auroc"], _ = per_image(mass, cat, valid, ok)  # how much the map overlaps, as score
    v = valid & ok[:, None]
    res["share_defining"] = float((cat[v] == 0).mean())
    res["mean_size"] = {c: float(sizes[v & (cat == i)].mean()) if (v & (cat == i)).any() else None
                        for i, c in enumerate(("defining", "distractor", "background"))}
    res["mean_imp"] = {c: float(imp[v & (cat == i)].mean()) if (v & (cat == i)).any() else None
                       for i, c in enumerate(("defining", "distractor", "background"))}
    # rank correlation of importance with size, pooled within images
    rs = []
    for i in np.nonzero(ok)[0]:
        m = valid[i]
        if m.sum() >= 3 and np.ptp(sizes[i, m]) > 0 and np.ptp(imp[i, m]) > 0:
            a = np.argsort(np.argsort(imp[i, m]))
            b = np.argsort(np.argsort(sizes[i, m]))
            rs.append(np.corrcoef(a, b)[0, 1])
    res["spearman_imp_size"] = float(np.mean(rs)) if rs else None
    # images where every valid concept points at a defining part (AUROC undefined there)
    all_def = [(cat[i][valid[i]] == 0).all() for i in np.nonzero(ok)[0]]
    res["images_all_defining"] = float(np.mean(all_def))
    # a mass-based category (defining if > half its normalised mass is on defining parts)
    cat2 = np.where(mass > 0.5, 0, 1)
    res["imp_auroc_mass_category"], res["n_images_mass_category"] = per_image(imp, cat2, valid, ok)
    res["_cat"], res["_valid"] = cat, valid
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="random groupings per baseline")
    ap.add_argument("--dataset", default="planted")
    ap.add_argument("--data", default="data", help="the pipeline's data folder (read only)")
    args = ap.parse_args(argv)
    d = f"{args.data}/{args.dataset}"
    store = ActivationStore(f"{d}/activations")
    conc = load_concepts(f"{d}/concepts").arrays
    impf = load_importance(f"{d}/importance").arrays
    truth = load_truth(f"{d}/prepare/truth", "test")
    acts = np.concatenate([np.asarray(b.activations) for b in store.iter_batches(64)])
    idx = store.read("index")
    tr = match_rows(store.images, truth.files)
    cpos = {int(i): r for r, i in enumerate(conc["index"])}
    ipos = {int(i): r for r, i in enumerate(impf["index"])}
    cr = np.array([cpos[int(i)] for i in idx])
    ir = np.array([ipos[int(i)] for i in idx])
    target = impf["target"][ir]
    ok = target == truth.label[tr]
    recipes = np.zeros((len(truth.meta["recipes"]), len(truth.part_names)), bool)
    for c, r in enumerate(truth.meta["recipes"]):
        recipes[c, r] = True
    head = store.head  # GAP + linear (HeadParams)
    K = impf["cgap_importance"].shape[1]
    out = {"n_images": int(len(idx)), "n_target_is_label": int(ok.sum()),
           "p_t_quantiles": np.quantile(impf["p_t"][ir], [0.1, 0.5, 0.9]).round(4).tolist()}
    for m in ("cgap", "cpha"):
        lab = conc[f"{m}_labels"][cr]
        out[m] = analyse(m, lab, impf[f"{m}_importance"][ir], acts, truth, tr, recipes, ok, K)
        out[f"{m}_keep"] = analyse(m, lab, impf[f"{m}_keep_importance"][ir], acts, truth, tr,
                                   recipes, ok, K)
        li = logit_importance(acts, lab, target, head, K)
        out[f"{m}_logit"] = analyse(m, lab, li, acts, truth, tr, recipes, ok, K)
        base = out[m]
        a_m = per_image_array(impf[f"{m}_importance"][ir], base["_cat"], base["_valid"])
        a_m[~ok] = np.nan
        rnd = []
        for s in range(args.seeds):
            rl = np.asarray(random_grouping(lab, key=jax.random.key(1000 + s)))
            ri = np.asarray(concept_importance(acts, rl, np.full_like(rl, -1), target, head=head,
                                               n_concepts=K, n_sub=0).importance)
            r = analyse(m, rl, ri, acts, truth, tr, recipes, ok, K)
            a_r = per_image_array(ri, r["_cat"], r["_valid"])
            a_r[~ok] = np.nan
            both = np.isfinite(a_m) & np.isfinite(a_r)
            r["paired_n"] = int(both.sum())
            r["paired_method"] = float(a_m[both].mean())
            r["paired_random"] = float(a_r[both].mean())
            rl_li = logit_importance(acts, rl, target, head, K)
            r["logit_imp_auroc"] = per_image(rl_li, r["_cat"], r["_valid"], ok)[0]
            rnd.append(r)
        keys = ("imp_auroc", "size_auroc", "imp_per_channel_auroc", "n_images",
                "images_all_defining", "share_defining", "spearman_imp_size",
                "imp_auroc_mass_category", "paired_n", "paired_method", "paired_random",
                "logit_imp_auroc")
        out[f"random_{m}"] = {k: {"mean": float(np.mean([r[k] for r in rnd])),
                                  "std": float(np.std([r[k] for r in rnd])),
                                  "min": float(np.min([r[k] for r in rnd])),
                                  "max": float(np.max([r[k] for r in rnd]))} for k in keys}
        # sub-concepts and a baseline at the same granularity (K*S random groups, same sizes)
        S = impf[f"{m}_sub_importance"].shape[2]
        sub = conc[f"{m}_sub_labels"][cr]
        grp = np.where((lab >= 0) & (sub >= 0), lab * S + sub, -1)
        out[f"{m}_sub"] = analyse(m, grp, impf[f"{m}_sub_importance"][ir].reshape(len(ir), -1),
                                  acts, truth, tr, recipes, ok, K * S)
        out[f"{m}_sub"].pop("_cat"), out[f"{m}_sub"].pop("_valid")
        rs_ = []
        for s_ in range(args.seeds):
            rg = np.asarray(random_grouping(grp, key=jax.random.key(2000 + s_)))
            ri = np.asarray(concept_importance(acts, rg, np.full_like(rg, -1), target, head=head,
                                               n_concepts=K * S, n_sub=0).importance)
            rs_.append(analyse(m, rg, ri, acts, truth, tr, recipes, ok, K * S)["imp_auroc"])
        out[f"random_{m}_sub"] = {"imp_auroc_mean": float(np.mean(rs_)),
                                  "imp_auroc_std": float(np.std(rs_))}
        out[f"random_{m}"]["mean_size_seed0"] = rnd[0]["mean_size"]
        out[f"random_{m}"]["mean_imp_seed0"] = rnd[0]["mean_imp"]
    for v in out.values():
        if isinstance(v, dict):
            v.pop("_cat", None), v.pop("_valid", None)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
