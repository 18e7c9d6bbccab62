"""Run streamed fits in a subprocess:
``python -m tests.sae._worker STORE OUT METHOD[,METHOD...] [SHARDS_PER_STEP IMAGES_PER_BATCH]``
(the optional pair: group-aligned steps, :func:`fit_sae_streamed`'s ``shards_per_step``).
A METHOD is an SAE method or one of :data:`DICTS` (the streamed SemiNMF / k-means dictionary,
with the settings of ``tests/sae/test_streamed_dicts.py``).

Forced CPU devices come from XLA_FLAGS; multi-process runs set JAX_COORDINATOR_ADDRESS /
JAX_NUM_PROCESSES / JAX_PROCESS_ID. Writes ``OUT`` (npz) from process 0 only.
"""

import sys

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")

from jaxconcepts.streaming import initialize_distributed  # noqa: E402 (after the gloo setting)

DICTS = ("seminmf", "kmeans")


def _dictionary(rows, method, mesh):
    """``(W, history)`` of a streamed dictionary fit."""
    from jaxconcepts.sae import fit_kmeans_dictionary_streamed, fit_seminmf_streamed

    if method == "seminmf":
        m = fit_seminmf_streamed(rows, 6, key=jax.random.key(0), max_iter=4, code_iters=10,
                                 init_rows=4096, mesh=mesh)
        return m.W, m.error_history
    m = fit_kmeans_dictionary_streamed(rows, 8, key=jax.random.key(0), n_iter=4,
                                       init_rows=4096, mesh=mesh)
    return m.centroids, m.inertia_history


def main(store, out, methods, shards_per_step=None, images_per_batch=8):
    initialize_distributed()
    import numpy as np

    from jaxconcepts.store import RowsView
    from jaxconcepts.sae import fit_sae_streamed
    from jaxconcepts.streaming import data_mesh

    mesh = data_mesh()
    group = {} if shards_per_step is None else {"shards_per_step": int(shards_per_step)}
    rows = RowsView(store, images_per_batch=int(images_per_batch), prefetch=0,
                    process_index=jax.process_index(), process_count=jax.process_count())
    res = {}
    for method in methods.split(","):
        if method in DICTS:
            W, loss = _dictionary(rows, method, mesh)
        else:
            m = fit_sae_streamed(rows, method=method, width=32, k=3, key=jax.random.key(0),
                                 epochs=3, learning_rate=3e-3, init_rows=4096, mesh=mesh,
                                 sparsity=0.03, **group)
            W, loss = m.W_dec, m.loss_history
        res.update({f"{method}_W": np.asarray(W), f"{method}_loss": loss})
    if jax.process_index() == 0:
        np.savez(out, devices=len(mesh.devices.flat), **res)


if __name__ == "__main__":
    main(*sys.argv[1:])
