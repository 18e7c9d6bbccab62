import numpy as np
import pytest

from jaxconcepts.concepts._c2mf import c2mf_objective
from jaxconcepts.streaming import write_synthetic_store
from tests import _builders


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    """A small float16 planted store: 120 images of 4x4 positions x 24 channels, 4 classes."""
    p = tmp_path_factory.mktemp("store")
    write_synthetic_store(p, n_images=120, channels=24, hw=(4, 4), k=6, n_classes=4,
                          images_per_shard=25, dtype="float16", noise=0.05, seed=1)
    return p


def run_worker(store, out, method, *, devices=1, processes=1, max_steps=3, timeout=300):
    """Run tests.streaming._worker with forced CPU devices and/or several processes; its npz."""
    _builders.launch("tests.streaming._worker", store, out, method, max_steps, devices=devices,
                     processes=processes, timeout=timeout)
    return dict(np.load(out))


@pytest.fixture(scope="session")
def nn_store(tmp_path_factory):
    """The same, non-negative (ReLU'd, non-negative atoms), bfloat16, for NMF."""
    p = tmp_path_factory.mktemp("nn_store")
    write_synthetic_store(p, n_images=120, channels=24, hw=(4, 4), k=6, n_classes=4,
                          images_per_shard=25, dtype="bfloat16", noise=0.05, seed=2,
                          nonnegative=True)
    return p


@pytest.fixture(scope="session")
def single_run(request, tmp_path_factory):
    """``single_run(method)``: the 1-device, 1-process run of ``method`` (C2MF on ``store``, the
    NMFs on ``nn_store``), run once per session and shared by the tests comparing against it."""
    runs = {}

    def get(method):
        if method not in runs:
            store = request.getfixturevalue("store" if method.startswith("c2mf") else "nn_store")
            runs[method] = run_worker(store, tmp_path_factory.mktemp("single") / "one.npz",
                                      method)
        return runs[method]

    return get


# helpers shared by test_c2mf.py, test_nmf.py and test_cached_rows.py
C2 = dict(alpha=0.01, max_steps=150, tol=1e-5, code_sweeps=30, gate_steps=10, dict_sweeps=10,
          learning_rate=0.05, init_rows=4096)


def all_rows(rows):
    A, y = [], []
    for b in rows:
        A.append(b.A[b.valid].reshape(-1, rows.channels))
        y.append(np.repeat(b.y[b.valid], rows.rows_per_image))
    return np.concatenate(A), np.concatenate(y).astype(np.int32)


def exact_objective(model, A, y, alpha):
    U = model.transform(A, y)
    return float(c2mf_objective(A, U, y, model.W, model.logits, alpha=alpha))
