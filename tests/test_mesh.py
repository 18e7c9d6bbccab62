"""The device mesh (jaxconcepts/mesh.py): padding, the per-image sharded program, per-device
statistics and their total, CPU device splitting (in subprocesses: JAX fixes its devices once)."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.mesh import (
    DATA, data_mesh, device_stats_program, device_total, initialize_distributed, local_mesh,
    pad_rows, padded_size, put_rows, replicate, sharded_batch, to_host, zero_device_stats,
)

ROOT = Path(__file__).resolve().parents[1]


def test_padded_size_rounds_up_to_the_device_count():
    assert [padded_size(b, 4) for b in (1, 4, 5, 8, 9)] == [4, 4, 8, 8, 12]
    assert padded_size(7, 1) == 7


def test_pad_rows_appends_fill_rows():
    x = np.arange(6, dtype=np.int32).reshape(3, 2)
    assert pad_rows(x, 3) is x
    out = pad_rows(x, 5, fill=-1)
    assert out.shape == (5, 2) and out.dtype == np.int32
    np.testing.assert_array_equal(out, [[0, 1], [2, 3], [4, 5], [-1, -1], [-1, -1]])


def test_sharded_batch_equals_the_plain_function():
    mesh = local_mesh()
    assert mesh.axis_names == (DATA,) and mesh.size == len(jax.local_devices())
    n = padded_size(5, mesh.size)
    x = pad_rows(np.arange(5 * 3, dtype=np.float32).reshape(5, 3), n)
    w = np.array([1.0, 2.0, 3.0], np.float32)
    fn = sharded_batch(lambda w, x: (x * w).sum(-1), mesh, n_replicated=1)
    out = fn(w, x)
    np.testing.assert_allclose(np.asarray(out), x @ w)
    np.testing.assert_allclose(np.asarray(fn(w, x + 1)), (x + 1) @ w)  # compiled once, reused


def test_device_stats_then_total_sum_every_row():
    mesh = data_mesh()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * mesh.size, 3)).astype(np.float32)
    acc = zero_device_stats(mesh, np.zeros(3), np.full((), -np.inf))
    assert acc[0].shape == (mesh.size, 3) and acc[1].shape == (mesh.size,)
    prog = device_stats_program(
        mesh, lambda acc, s, rows: (acc[0] + s * rows.sum(0), jnp.maximum(acc[1], rows.max())), 1)
    scale = replicate(mesh, np.float32(2.0))
    for _ in range(2):
        (rows,) = put_rows(mesh, x)
        acc = prog(acc, scale, rows)
    total, top = device_total(mesh, acc, ("sum", "max"))
    np.testing.assert_allclose(total, 4 * x.sum(0), rtol=1e-5)
    assert float(top) == float(x.max())
    assert isinstance(total, np.ndarray) and to_host(np.ones(2)).tolist() == [1.0, 1.0]


def test_initialize_distributed_is_a_no_op_for_one_process_and_checks_its_arguments(monkeypatch):
    for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(k, raising=False)
    assert initialize_distributed() is None
    assert initialize_distributed(num_processes=1) is None
    with pytest.raises(ValueError, match="num_processes=2 needs coordinator_address"):
        initialize_distributed(num_processes=2, process_id=0)
    monkeypatch.setenv("JAX_NUM_PROCESSES", "3")
    with pytest.raises(ValueError, match="num_processes=3 .* process_id \\(got None\\)"):
        initialize_distributed(coordinator_address="localhost:1")


def _devices_after(code: str, **env_extra) -> str:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", **env_extra)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.slow
def test_use_cpu_devices_splits_the_cpu_before_jax_starts():
    ask = ("from jaxconcepts.mesh import use_cpu_devices, local_mesh\n"
           "n = use_cpu_devices({})\nprint(n, local_mesh().size)")
    assert _devices_after(ask.format(2)) == ["2", "2"]
    assert _devices_after(ask.format(None)) == ["None", "1"]
    auto = str(len(os.sched_getaffinity(0)))
    assert _devices_after(ask.format('"auto"')) == [auto, auto]
    # an explicit XLA flag wins
    assert _devices_after(ask.format(2), XLA_FLAGS="--xla_force_host_platform_device_count=3") \
        == ["None", "3"]
    # once JAX has run, the devices stay as they are (no error)
    late = ("import jax.numpy as jnp\nfrom jaxconcepts.mesh import use_cpu_devices, local_mesh\n"
            "jnp.ones(1).block_until_ready()\nprint(use_cpu_devices(2), local_mesh().size)")
    assert _devices_after(late) == ["None", "1"]


@pytest.mark.parametrize("bad", [0, -1, "many", 2.5, True])
def test_use_cpu_devices_rejects_bad_counts(bad):
    from jaxconcepts.mesh import use_cpu_devices

    with pytest.raises(ValueError, match="cpu_devices"):
        use_cpu_devices(bad)
