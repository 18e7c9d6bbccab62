"""C2MF's headline numbers across train/test splits: each split seed is a new per-class split by
image and a new fit of every method, so the interval covers both the split and the solver's start.

For one k (the first of ``c2mf.controls``, else the first of ``c2mf.k``), the stage's own run is
split seed ``c2mf.seed``; every seed of ``c2mf.split_seeds`` reruns :func:`run_c2mf` with that
seed (nothing else changed: no controls, ablation, sweep or atlas). Per method and seed, the
fields of :data:`FIELDS` (Table 2's accuracy, Table 3's test MSE, the insertion/deletion AUCs by
IG) are the test images' values. With n seeds the interval is Student's t over the n per-seed
values (n − 1 degrees of freedom); "C2MF beats X" is judged on the paired per-seed differences
(the same split for both methods): *holds* when the difference's interval lies on C2MF's side of
0, *fails* on the other side, *tie* otherwise (:func:`~._intervals.verdict`). With one seed there
is no interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["FIELDS", "seed_interval", "seed_summary"]

#: (field, where it is in a results entry, higher is better, label)
FIELDS = (
    ("acc_pred", ("reconstruction", "acc_pred_mean"), True, "Table 2 accuracy (pred, %)"),
    ("test_mse", ("consistency", "test_mse"), False, "Table 3 test MSE"),
    ("insertion_ig", ("insertion_deletion", "insertion_ig_mean"), True, "insertion AUC (IG)"),
    ("deletion_ig", ("insertion_deletion", "deletion_ig_mean"), False, "deletion AUC (IG)"),
)


def _value(entry: Mapping, path: tuple[str, str]):
    v = (entry.get(path[0]) or {}).get(path[1])
    return None if v is None else float(v)


def seed_interval(values: Sequence[float], level: float = 0.95) -> dict:
    """Mean and Student-t interval of per-seed values (None where undefined or n < 2)."""
    from scipy.stats import t

    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
    if not v.size:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    if v.size < 2:
        return {"mean": float(v.mean()), "lo": None, "hi": None, "n": 1}
    half = float(t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return {"mean": float(v.mean()), "lo": float(v.mean() - half), "hi": float(v.mean() + half),
            "n": int(v.size)}


def seed_summary(runs: Sequence[Mapping], seeds: Sequence[int], k: int) -> dict:
    """The split seeds' table from the runs' ``metrics`` (one per seed, the stage's own first):
    per seed each :data:`FIELDS` value at ``k``, its interval over seeds, and whether C2MF beats
    each other method (paired over seeds)."""
    from jaxconcepts.evaluation._intervals import verdict

    first = runs[0]
    methods = [m for m in first["results"] if f"k{k}" in first["results"][m]]
    per_seed = {m: {f: [_value(r["results"].get(m, {}).get(f"k{k}", {}), path) for r in runs]
                    for f, path, _, _ in FIELDS} for m in methods}
    summary = {m: {f: seed_interval(v) for f, v in per.items()} for m, per in per_seed.items()}
    claims = {}
    for other in (m for m in methods if m != "c2mf" and "c2mf" in methods):
        claims[other] = {}
        for f, _, higher, _ in FIELDS:
            a, b = per_seed["c2mf"][f], per_seed[other][f]
            d = [None if x is None or y is None else (x - y if higher else y - x)
                 for x, y in zip(a, b)]
            iv = seed_interval(d)
            claims[other][f] = {**iv, "verdict": verdict(iv["lo"], iv["hi"])}
    return {"k": k, "seeds": [int(s) for s in seeds], "per_seed": per_seed, "summary": summary,
            "c2mf_beats": claims}
