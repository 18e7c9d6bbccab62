"""One code path on one device, many devices and many hosts: a 1-D ``Mesh`` over a data axis.

- :func:`data_mesh` builds ``Mesh(jax.devices(), ("data",))``: on one CPU or GPU it is a mesh of
  one; on a node of 8 GPUs, 8; after :func:`initialize_distributed`, every device of every
  process.
- :func:`put_rows` turns this process's batch (NumPy) into one global array sharded along the
  data axis (``jax.make_array_from_process_local_data``): each process contributes its own rows.
- Statistics are summed inside jitted programs whose outputs are replicated
  (``out_shardings=NamedSharding(mesh, P())``): XLA inserts the all-reduce (``psum``) over the
  devices of every process. :func:`to_host` reads a replicated result back as NumPy.
- Small, replicated solves (gates, dictionary rows, ``eigh``) run **outside** the sharded
  programs, on each process's host/default device, on identical inputs, so every process holds
  the same dictionary. (JAX 0.10 has been seen to deadlock on a forced 2-device CPU mesh when one
  program holds both a batched matmul and an ``eigh``; no sharded program here holds an ``eigh``.)
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

__all__ = ["DATA", "data_mesh", "initialize_distributed", "put_rows", "replicate", "to_host",
           "row_sharding", "replicated"]

DATA = "data"


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> None:
    """``jax.distributed.initialize`` when more than one process is asked for; a no-op otherwise.

    Arguments default to the environment: ``JAX_COORDINATOR_ADDRESS`` (``host:port``),
    ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``. Under SLURM (``SLURM_JOB_ID`` set, and none of the
    above) JAX detects everything itself from ``srun``'s variables.
    """
    env = os.environ
    coordinator_address = coordinator_address or env.get("JAX_COORDINATOR_ADDRESS")
    if num_processes is None and "JAX_NUM_PROCESSES" in env:
        num_processes = int(env["JAX_NUM_PROCESSES"])
    if process_id is None and "JAX_PROCESS_ID" in env:
        process_id = int(env["JAX_PROCESS_ID"])
    if coordinator_address is None and "SLURM_JOB_ID" in env:
        jax.distributed.initialize()
        return
    if num_processes is None or num_processes <= 1:
        return
    if coordinator_address is None or process_id is None:
        raise ValueError(
            f"num_processes={num_processes} needs coordinator_address (got "
            f"{coordinator_address!r}) and process_id (got {process_id!r}); set "
            "JAX_COORDINATOR_ADDRESS and JAX_PROCESS_ID")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)


def data_mesh(devices=None) -> Mesh:
    """A 1-D mesh with axis ``"data"`` over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA,))


def row_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(DATA))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def local_devices(mesh: Mesh) -> int:
    """Devices of this mesh that this process drives."""
    return sum(d.process_index == jax.process_index() for d in mesh.devices.flat)


def put_rows(mesh: Mesh, *local: np.ndarray) -> tuple[jax.Array, ...]:
    """This process's arrays (leading axis = its rows/images) as global arrays sharded on
    ``"data"``; the global leading axis is the processes' local axes concatenated."""
    sh = row_sharding(mesh)
    nloc = local_devices(mesh)
    out = []
    for x in local:
        if x.shape[0] % nloc:
            raise ValueError(f"a batch of {x.shape[0]} should split evenly over this process's "
                             f"{nloc} devices; choose images_per_batch as a multiple of {nloc}")
        shape = (x.shape[0] * jax.process_count(),) + x.shape[1:]
        out.append(jax.make_array_from_process_local_data(sh, x, shape))
    return tuple(out)


def replicate(mesh: Mesh, x) -> jax.Array:
    """The same host value on every device of the mesh (every process must pass the same x)."""
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, replicated(mesh), lambda idx: x[idx])


def to_host(x) -> np.ndarray:
    """A replicated (or single-device) array as NumPy, read from a local device."""
    if isinstance(x, jax.Array):
        return np.asarray(x.addressable_data(0))
    return np.asarray(x)
