import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxconcepts.streaming import write_synthetic_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    """A small float16 planted store: 120 images of 4x4 positions x 24 channels, 4 classes."""
    p = tmp_path_factory.mktemp("store")
    write_synthetic_store(p, n_images=120, channels=24, hw=(4, 4), k=6, n_classes=4,
                          images_per_shard=25, dtype="float16", noise=0.05, seed=1)
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_worker(store, out, method, *, devices=1, processes=1, max_steps=3, timeout=300):
    """Run tests.streaming._worker with forced CPU devices and/or several processes."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} "
               f"--xla_force_host_platform_device_count={devices}".strip())
    cmd = [sys.executable, "-m", "tests.streaming._worker", str(store), str(out), method,
           str(max_steps)]
    if processes == 1:
        subprocess.run(cmd, env=env, check=True, timeout=timeout, cwd=ROOT)
    else:
        port = free_port()
        procs = [subprocess.Popen(cmd, cwd=ROOT, env=dict(
            env, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES=str(processes),
            JAX_PROCESS_ID=str(i))) for i in range(processes)]
        try:
            codes = [p.wait(timeout=timeout) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        assert codes == [0] * processes, codes
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
