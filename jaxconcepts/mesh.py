"""The device mesh, one module for every stage: a 1-D ``Mesh`` over a ``"data"`` axis, so one
code path runs on one device, many devices and many hosts.

**Per-image work** (the ``concepts`` and ``importance`` stages). Each image's result depends on
that image alone, so a batch is split along its batch axis over the mesh of this process's
devices (:func:`local_mesh`) and every device runs the single-image program on its slice
(:func:`sharded_batch`: ``jit(shard_map(fn))``, every argument and result sharded on ``"data"``;
no collective, so no such program can hang on one). The batch is padded to a multiple of the
device count (:func:`padded_size`, :func:`pad_rows`); one device is the same code path with a
mesh of one. The mesh holds *this process's* devices (``jax.local_devices()``, equal to
``jax.devices()`` for one process): with nothing to reduce across processes, a global mesh would
only force every process to step in lockstep (the processes write parts:
:mod:`jaxconcepts._parts`). :func:`use_cpu_devices` splits a CPU into several devices.

**Streamed statistics** (:mod:`jaxconcepts.streaming`, the SAEs):

- :func:`data_mesh` builds ``Mesh(jax.devices(), ("data",))``: on one CPU or GPU it is a mesh of
  one; on a node of 8 GPUs, 8; after :func:`initialize_distributed`, every device of every
  process.
- :func:`put_rows` turns this process's batch (NumPy) into one global array sharded along the
  data axis (``jax.make_array_from_process_local_data``): each process contributes its own rows.
- Statistics are accumulated **per device** over a whole pass (:func:`device_stats_program`,
  :func:`zero_device_stats`): each device adds its own rows' share to its own slot, in a program
  with no collective. Once per pass, :func:`device_total` sums the slots: a program holding
  nothing but that all-reduce over the devices of every process. (On a forced 2-device CPU mesh,
  JAX 0.10's CPU runtime deadlocked — a rendezvous timeout, every time — when one program held
  the batch's matmuls and the all-reduce together, on 500 k rows under load; keeping the two in
  separate programs also makes one all-reduce per pass instead of one per batch.)
  :func:`to_host` reads a replicated result back as NumPy.
- Small, replicated solves (gates, dictionary rows, ``eigh``) run **outside** the sharded
  programs, on each process's host/default device, on identical inputs, so every process holds
  the same dictionary. (JAX 0.10 has been seen to deadlock on a forced 2-device CPU mesh when one
  program holds both a batched matmul and an ``eigh``; no sharded program here holds an ``eigh``.)
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

__all__ = ["DATA", "local_mesh", "use_cpu_devices", "padded_size", "pad_rows", "sharded_batch",
           "data_mesh", "device_stats_program", "device_total", "initialize_distributed",
           "put_rows", "replicate", "replicated", "row_sharding", "to_host", "zero_device_stats"]

DATA = "data"


def local_mesh() -> Mesh:
    """The 1-D ``"data"`` mesh over this process's devices (the per-image stages')."""
    return Mesh(np.asarray(jax.local_devices()), (DATA,))


def use_cpu_devices(n: int | str | None) -> int | None:
    """Split this process's CPU into ``n`` JAX devices (``"auto"``: one per core it may use;
    ``None``: JAX's default of one), so :func:`local_mesh` spreads the per-image work over them.

    One device runs a batch's images one after the other, and XLA's CPU runtime parallelises
    little inside the small per-image operations; on 2 cores, 2 devices made CGAP ~2x faster in
    wall time and ~35 % cheaper in CPU (``benchmarks/clustering.py``). Results depend on the
    device count in their last bits only (the count is recorded in each part).

    Takes effect only before JAX starts its backends; afterwards (JAX already used in this
    process), or when ``XLA_FLAGS`` already sets ``--xla_force_host_platform_device_count``,
    the devices stay as they are. GPUs and TPUs are not affected. Returns the count asked for,
    or None when nothing was changed.
    """
    if n is None or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return None
    if n == "auto":
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"cpu_devices={n!r} should be an int >= 1, 'auto' or None")
    try:
        jax.config.update("jax_num_cpu_devices", int(n))
    except RuntimeError:  # backends already initialised: keep them
        return None
    return int(n)


def padded_size(batch_size: int, n_devices: int) -> int:
    """``batch_size`` rounded up to a multiple of ``n_devices``."""
    return -(-int(batch_size) // n_devices) * n_devices


def pad_rows(x: np.ndarray, n: int, fill=0) -> np.ndarray:
    """``x`` with rows of ``fill`` appended up to ``n`` rows."""
    if len(x) == n:
        return x
    return np.concatenate([x, np.full((n - len(x),) + x.shape[1:], fill, x.dtype)])


def sharded_batch(fn: Callable, mesh: Mesh, *, n_replicated: int = 0) -> Callable:
    """``jit(shard_map(fn))``: the first ``n_replicated`` arguments are replicated, every other
    argument and every result is split along the batch axis over ``mesh``'s ``"data"`` axis.

    ``fn`` must treat images independently (each device runs it on its own slice).
    """
    def specs(n_args):
        return tuple(P() if i < n_replicated else P(DATA) for i in range(n_args))

    compiled: dict[int, Callable] = {}

    def call(*args):
        n = len(args)
        if n not in compiled:
            # check_vma=False: the per-image code is unaware of the mesh (its loops' carries are
            # not marked device-varying), and it needs no collective
            compiled[n] = jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=specs(n),
                                                out_specs=P(DATA), check_vma=False))
        rows = NamedSharding(mesh, P(DATA))
        rep = NamedSharding(mesh, P())
        placed = [jax.device_put(a, rep if i < n_replicated else rows)
                  for i, a in enumerate(args)]
        return compiled[n](*placed)

    return call


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


def zero_device_stats(mesh: Mesh, *inits) -> tuple[jax.Array, ...]:
    """Per-device accumulators: each ``init`` (an array, e.g. zeros) copied into one slot per mesh
    device, along a new leading axis sharded on ``"data"`` (each device holds its own slot)."""
    n = mesh.devices.size
    out = []
    for x in inits:
        full = np.broadcast_to(np.asarray(x, np.float32), (n, *np.shape(x)))
        out.append(jax.make_array_from_callback(full.shape, row_sharding(mesh),
                                                lambda idx, full=full: full[idx]))
    return tuple(out)


def device_stats_program(mesh: Mesh, fold, n_replicated: int):
    """``prog(acc, *replicated, *sharded)``: every device folds its own rows into its own slot of
    ``acc`` — ``fold(acc_slot, *replicated, *its_rows) -> acc_slot`` — with no collective.

    ``acc`` comes from :func:`zero_device_stats` (and is donated); the ``n_replicated`` arguments
    after it are the same on every device; the rest are sharded on their leading (row) axis.
    """
    def local(acc, *args):
        return tuple(a[None] for a in fold(tuple(a[0] for a in acc), *args))

    def specs(n_args):
        return (P(DATA),) + (P(),) * n_replicated + (P(DATA),) * (n_args - n_replicated)

    @functools.wraps(fold)
    def prog(acc, *args):
        if len(args) not in compiled:
            compiled[len(args)] = jax.jit(jax.shard_map(
                local, mesh=mesh, in_specs=specs(len(args)), out_specs=P(DATA), check_vma=False),
                donate_argnums=0)
        return compiled[len(args)](acc, *args)

    compiled = {}
    return prog


@functools.lru_cache(maxsize=None)
def _total_program(mesh: Mesh, reducers: tuple):
    return jax.jit(lambda acc: tuple(getattr(jnp, r)(a, axis=0) for r, a in zip(reducers, acc)),
                   out_shardings=replicated(mesh))


def device_total(mesh: Mesh, acc, reducers: tuple[str, ...] | None = None
                 ) -> tuple[np.ndarray, ...]:
    """The per-device accumulators reduced over every device of every process (``reducers``: a
    ``jax.numpy`` reduction name per accumulator, default ``"sum"``), as NumPy — one program
    holding the all-reduce alone."""
    reducers = ("sum",) * len(acc) if reducers is None else tuple(reducers)
    return tuple(to_host(a) for a in _total_program(mesh, reducers)(tuple(acc)))
