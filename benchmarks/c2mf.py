"""Benchmark: the C2MF solver (``fit_c2mf``) vs a plain NumPy reference of the same objective.

Objective (Eq. 11 with this package's scale fix): Σ_i ‖a_i − (u_i ⊙ σ(λ_{y_i})) W‖² + α Σ ‖σ(λ)‖₁,
0 ≤ U ≤ 1, rows of W of norm ρ. The reference is what one writes without this package: full-batch
Adam on (U, W, λ) with hand-written NumPy gradients, projecting U to the box and W's rows to norm ρ
after each step. Both are scored the same way: the objective of their final (W, λ) with U re-solved
by the same box-NNLS (``C2MF.transform``). The JAX solver is timed (after compilation) with growing
step budgets until its objective is ≤ the reference's final objective.

Writes ``reports/benchmarks/c2mf.json``. Usage: ``python -m benchmarks c2mf [--n 20000 --c 512]``
(realistic size: ``--n 100000 --c 1280 --k 25``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

try:
    from benchmarks._common import machine_info
except ImportError:  # pragma: no cover
    import os
    import platform

    def machine_info():
        return {"platform": platform.platform(), "cpu_count": os.cpu_count()}


def _data(n, c, k, Y, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, c))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    recipes = rng.uniform(size=(Y, k)) < 0.3
    y = rng.integers(0, Y, n)
    U = rng.uniform(size=(n, k)) * recipes[y]
    A = U @ W + 0.05 * rng.normal(size=(n, c))
    return A.astype(np.float32), y.astype(np.int32)


def numpy_reference(A, y, k, Y, *, alpha, rho, steps, lr, seed):
    """Full-batch projected Adam on (U, W, λ) in NumPy float32 (the straightforward way)."""
    rng = np.random.default_rng(seed)
    n, c = A.shape
    A = A.astype(np.float32)
    W = A[rng.choice(n, k, replace=False)].copy()
    W *= rho / np.linalg.norm(W, axis=1, keepdims=True)
    U = np.full((n, k), 0.1, np.float32)
    lam = np.zeros((Y, k), np.float32)
    params = [U, W, lam]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lrs = [np.float32(lr), np.float32(lr * rho / np.sqrt(c)), np.float32(lr)]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        U, W, lam = params
        g = (1 / (1 + np.exp(-lam))).astype(np.float32)
        Gy = g[y]
        V = U * Gy
        R = V @ W - A
        dV = 2 * R @ W.T
        dU = dV * Gy
        dW = 2 * V.T @ R
        dG = np.zeros((Y, k))
        np.add.at(dG, y, dV * U)
        dlam = ((dG + alpha) * g * (1 - g)).astype(np.float32)
        for i, gr in enumerate((dU, dW, dlam)):
            m[i] = b1 * m[i] + (1 - b1) * gr
            v[i] = b2 * v[i] + (1 - b2) * gr * gr
            mh, vh = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
            params[i] = params[i] - lrs[i] * mh / (np.sqrt(vh) + eps)
        params[0] = np.clip(params[0], 0, 1)
        params[1] *= rho / np.linalg.norm(params[1], axis=1, keepdims=True)
    return params


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--c", type=int, default=512)
    ap.add_argument("--k", type=int, default=25)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=10.0)
    ap.add_argument("--ref-steps", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="reports/benchmarks/c2mf.json")
    args = ap.parse_args(argv)

    import jax
    import jax.numpy as jnp

    from jaxconcepts._io import write_json
    from jaxconcepts.concepts._c2mf import C2MF, c2mf_objective, fit_c2mf

    A, y = _data(args.n, args.c, args.k, args.classes, args.seed)
    rho = float(np.quantile(np.linalg.norm(A, axis=1), 0.99))

    def score(W, lam):
        model = C2MF(jnp.asarray(W, jnp.float32), jnp.asarray(lam, jnp.float32), rho,
                     np.zeros(0), 0, True)
        U = model.transform(A, y)
        return float(c2mf_objective(A, U, y, model.W, model.logits, alpha=args.alpha))

    t0 = time.perf_counter()
    _, W_ref, lam_ref = numpy_reference(A, y, args.k, args.classes, alpha=args.alpha, rho=rho,
                                        steps=args.ref_steps, lr=0.05, seed=args.seed)
    t_ref = time.perf_counter() - t0
    obj_ref = score(W_ref, lam_ref)
    print(f"numpy reference: {args.ref_steps} Adam steps {t_ref:.2f} s, objective {obj_ref:.6g}")

    kw = dict(key=jax.random.key(args.seed), alpha=args.alpha, n_classes=args.classes,
              atom_norm=rho, tol=0.0)
    runs = []
    for steps in (10, 20, 40, 80, 160, 320):
        fit_c2mf(A, y, args.k, max_steps=steps, **kw)  # compile (the schedule length is static)
        t0 = time.perf_counter()
        m = fit_c2mf(A, y, args.k, max_steps=steps, **kw)
        m.W.block_until_ready()
        t = time.perf_counter() - t0
        obj = score(m.W, m.logits)
        runs.append({"max_steps": steps, "seconds": t, "objective": obj})
        print(f"jax C2MF {steps:4d} steps: {t:7.2f} s  objective {obj:.6g}")
        if obj <= obj_ref:
            break
    hit = runs[-1]
    report = {
        "benchmark": "c2mf",
        "shape": [args.n, args.c], "k": args.k, "classes": args.classes, "alpha": args.alpha,
        "numpy_reference": {"seconds": t_ref, "steps": args.ref_steps, "objective": obj_ref},
        "jax_c2mf": {"runs": runs},
        "equal_objective_reached": hit["objective"] <= obj_ref,
        "speedup_at_equal_objective": t_ref / hit["seconds"],
        "load_average": list(__import__("os").getloadavg()),
        "machine": machine_info(),
    }
    print(f"-> {report['speedup_at_equal_objective']:.1f}x at objective {hit['objective']:.6g} "
          f"(reference {obj_ref:.6g})")
    write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
