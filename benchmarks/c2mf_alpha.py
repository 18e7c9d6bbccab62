"""Which relative gate penalty ``alpha`` makes C2MF's gates sparse without costing reconstruction?

``α_y = alpha · ‖A(y)‖²`` (scale-free, see ``jaxconcepts/concepts/_c2mf.py``). On planted data
(each class uses a known subset of the true atoms; codes uniform in [0, 1]; Gaussian noise) we
fit C2MF for a grid of ``alpha`` and report, per value:

- ``active``: gates > 0.1 (the planted number is the recipes' total),
- ``recipe_match``: whether the open gates are exactly the planted recipes (atoms matched by
  |cosine|),
- ``rel_error``: ``‖A − reconstruct(transform(A))‖² / ‖A‖²`` on held-out rows,
- ``n_steps`` / ``converged``.

Usage: ``python -m benchmarks c2mf_alpha [--seeds 3]``; writes reports/benchmarks/c2mf_alpha.json.
"""

from __future__ import annotations

import argparse

import numpy as np

GRID = (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
SETTINGS = {  # name: (n rows, channels, true atoms k, classes, atoms per class, noise)
    "planted_small": (300, 30, 5, 3, 2, 0.01),
    "planted_10x64": (4000, 64, 10, 10, 3, 0.05),
    "planted_10x64_noisy": (4000, 64, 10, 10, 3, 0.2),
}


def data(n, c, k, Y, per, noise, seed, rows_seed):
    from jaxconcepts.streaming import planted_dictionary

    W, rec = planted_dictionary(k, c, Y, seed=seed, per_class=per)
    rng = np.random.default_rng([seed, rows_seed])
    y = rng.integers(0, Y, n).astype(np.int32)
    U = rng.uniform(size=(n, k)) * rec[y]
    A = (U @ W + noise * rng.normal(size=(n, c))).astype(np.float32)
    return A, y, W, rec


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks c2mf_alpha")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default="reports/benchmarks/c2mf_alpha.json")
    args = ap.parse_args(argv)
    import jax

    from jaxconcepts.io import write_json
    from jaxconcepts.concepts import fit_c2mf

    out = {}
    for name, (n, c, k, Y, per, noise) in SETTINGS.items():
        rows = []
        for alpha in GRID:
            for seed in range(args.seeds):
                A, y, W, rec = data(n, c, k, Y, per, noise, seed, 0)
                A2, y2, _, _ = data(n, c, k, Y, per, noise, seed, 1)
                m = fit_c2mf(A, y, k, key=jax.random.key(seed), alpha=alpha, n_classes=Y,
                             max_steps=500)
                U = m.transform(A2, y2)
                R = A2 - np.asarray(m.reconstruct(U, y2))
                Wf = np.asarray(m.W) / np.linalg.norm(np.asarray(m.W), axis=1, keepdims=True)
                idx = np.abs(W @ Wf.T).argmax(1)
                g = np.asarray(m.gates)
                rows.append({"alpha": alpha, "seed": seed, "active": int((g > 0.1).sum()),
                             "planted_active": int(rec.sum()),
                             "recipe_match": bool(np.array_equal(g[:, idx] > 0.1, rec)
                                                  and len(set(idx)) == k),
                             "rel_error": float((R ** 2).sum() / (A2 ** 2).sum()),
                             "n_steps": int(m.n_steps), "converged": bool(m.converged)})
            r = [x for x in rows if x["alpha"] == alpha]
            print(f"{name} alpha={alpha:g}: active {np.mean([x['active'] for x in r]):.1f}/"
                  f"{r[0]['planted_active']}, recipe match "
                  f"{sum(x['recipe_match'] for x in r)}/{len(r)}, rel error "
                  f"{np.mean([x['rel_error'] for x in r]):.5f}, steps "
                  f"{np.mean([x['n_steps'] for x in r]):.0f}", flush=True)
        out[name] = rows
    write_json(args.out, {"grid": GRID, "settings": SETTINGS, "results": out})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
