"""How JumpReLU's L0 coefficient λ sets its sparsity on a dataset's activation store.

``python scripts/jumprelu_sparsity.py DATASET [--sparsity 1,0.1,0.03,0.01,0.003]
[--threshold-scale 10]``: fits ``fit_sae(method="jumprelu")`` in memory on the rows of the first
70 % of ``data/<DATASET>/activations``' images (every spatial position a row; not the C2MF suite's
class-stratified split) with the scoreboard's image-ground settings (width 32, 10 epochs,
batches of 256 rows, learning rate 0.003, seed 0), once per λ, and prints each fit's mean L0 (active
latents per row at inference), R² on those rows and dead latents. Run the first command first
(it writes the stores). The README's scoreboard section quotes its output.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from jaxconcepts.sae import explained_variance, fit_sae
from jaxconcepts.store import ActivationStore


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--sparsity", default="1,0.1,0.03,0.01,0.003", help="comma list of λ")
    ap.add_argument("--threshold-scale", type=float, default=10.0)
    args = ap.parse_args(argv)
    F = ActivationStore(f"data/{args.dataset}/activations").read("activations")
    n, c = F.shape[:2]
    A = np.ascontiguousarray(np.moveaxis(F.reshape(n, c, -1), 1, 2)[: int(0.7 * n)].reshape(-1, c))
    print(f"{args.dataset}: {A.shape[0]} rows x {c} channels, threshold_scale "
          f"{args.threshold_scale}", flush=True)
    for lam in (float(x) for x in args.sparsity.split(",")):
        m = fit_sae(A, method="jumprelu", width=32, key=jax.random.key(0), epochs=10,
                    batch_size=256, learning_rate=3e-3, sparsity=lam,
                    threshold_scale=args.threshold_scale)
        U = np.asarray(m.transform(A))
        r2 = explained_variance(A, np.asarray(m.reconstruct(U)))
        print(f"λ {lam:g}: L0 {(U != 0).sum(1).mean():.2f}, R² {r2:.3f}, dead {m.n_dead}",
              flush=True)


if __name__ == "__main__":
    main()
