"""Run one streamed fit in a subprocess:
``python -m tests.streaming._worker STORE OUT METHOD [MAX_STEPS [KILL_AFTER]]``.

With ``KILL_AFTER`` the process SIGKILLs itself after that many passes (a crash mid-fit).

Multi-process runs set JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID; forced CPU
devices come from XLA_FLAGS. Writes ``OUT`` (npz) from process 0 only.
"""

import sys
import time

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")

from jaxconcepts.streaming import initialize_distributed  # noqa: E402


def main(store, out, method, max_steps="3", kill_after=None):
    initialize_distributed()
    import numpy as np

    from jaxconcepts.store import RowsView
    from jaxconcepts.streaming import data_mesh, fit_c2mf_streamed, fit_nmf_streamed

    mesh = data_mesh()
    rows = RowsView(store, images_per_batch=8 * jax.local_device_count(),
                    process_index=jax.process_index(), process_count=jax.process_count())
    t0 = time.perf_counter()

    def crash(step, loss, secs):
        if kill_after is not None and step + 1 >= int(kill_after):
            import os
            import signal

            os.kill(os.getpid(), signal.SIGKILL)

    if method.startswith("c2mf"):  # c2mf_online: an online first pass, a group per 2 shards
        m = fit_c2mf_streamed(rows, 4, key=jax.random.key(0), alpha=0.01, max_steps=int(max_steps),
                              tol=0.0, code_sweeps=20, gate_steps=10, dict_sweeps=5,
                              learning_rate=0.05, init_rows=2048, mesh=mesh, callback=crash,
                              update_shards=2 if method == "c2mf_online" else None)
        res = {"W": np.asarray(m.W), "logits": np.asarray(m.logits), "loss": m.loss_history}
    else:  # nmf: one update per pass; nmf_online: an online first pass, a group per 2 shards
        m = fit_nmf_streamed(rows, 4, key=jax.random.key(0), max_steps=int(max_steps), tol=0.0,
                             code_sweeps=20, dict_sweeps=5, init_rows=2048, mesh=mesh,
                             update_shards=2 if method == "nmf_online" else None, forget=1.0)
        res = {"W": np.asarray(m.W), "loss": m.error_history}
    secs = time.perf_counter() - t0
    if jax.process_index() == 0:
        np.savez(out, seconds=secs, devices=len(mesh.devices.flat), rows=rows.n_rows, **res)


if __name__ == "__main__":
    main(*sys.argv[1:])
