"""Streamed evaluation accumulators equal the in-memory metrics."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts.evaluation._c2mf_eval import (consistency, insertion_deletion,
                                               reconstruction_accuracy)
from jaxconcepts.features._rows import RowsView
from jaxconcepts.streaming import fit_c2mf_streamed
from jaxconcepts.streaming._eval import (streamed_consistency, streamed_insertion_deletion,
                                         streamed_reconstruction_accuracy)


def test_streamed_metrics_equal_in_memory(store):
    rows = RowsView(store, images_per_batch=16)
    m = fit_c2mf_streamed(rows, 6, key=jax.random.key(0), alpha=0.01, max_steps=5, tol=0.0,
                          code_sweeps=20, gate_steps=10, dict_sweeps=5, learning_rate=0.05,
                          init_rows=2048)
    batches = [b for b in rows]
    A = np.concatenate([b.A[b.valid] for b in batches])
    y = np.concatenate([b.y[b.valid] for b in batches])
    p, c = A.shape[1], A.shape[2]
    half = len(A) // 2
    tr, te = (A[:half], y[:half]), (A[half:], y[half:])
    ref = consistency(m, tr[0].reshape(-1, c), np.repeat(tr[1], p), te[0].reshape(-1, c),
                      np.repeat(te[1], p))
    chunks = lambda X, Y: [(X[i:i + 7], Y[i:i + 7]) for i in range(0, len(X), 7)]  # noqa: E731
    got = streamed_consistency(m, chunks(*tr), chunks(*te), n_classes=rows.n_classes)
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-4, atol=1e-7)

    Wh = jax.random.normal(jax.random.key(1), (rows.n_classes, c))
    h = lambda r: r.mean(0) @ Wh.T  # noqa: E731
    label = (y + 1) % rows.n_classes
    ref = reconstruction_accuracy(m, A, y, label, y, h, n_classes=rows.n_classes)
    got = streamed_reconstruction_accuracy(
        m, [(A[i:i + 5], y[i:i + 5], label[i:i + 5], y[i:i + 5]) for i in range(0, len(A), 5)],
        h, n_classes=rows.n_classes)
    for key in ("acc_label", "acc_pred", "acc_label_mean", "acc_pred_mean"):
        np.testing.assert_allclose(got[key], ref[key])

    U = m.transform(A[:12].reshape(-1, c), np.repeat(y[:12], p)).reshape(12, p, -1)

    def recon(Ui, cls):
        return m.reconstruct(Ui, jnp.full((Ui.shape[0],), cls))

    ref = insertion_deletion(U, y[:12], y[:12], recon, h)
    got = streamed_insertion_deletion(m, [(A[:5], y[:5]), (A[5:12], y[5:12])], h)
    np.testing.assert_allclose(got["insertion_auc"], float(ref.insertion_auc.mean()), rtol=1e-4)
    np.testing.assert_allclose(got["deletion_auc"], float(ref.deletion_auc.mean()), rtol=1e-4)
