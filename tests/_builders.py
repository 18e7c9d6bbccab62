"""Builders the tests share, served as fixtures by ``tests/conftest.py``: fake stores of raw
shards and the launcher of worker subprocesses (forced CPU devices, several processes). The
params-file writer is :mod:`tests._params`. No torch here: a torch-free probe imports this module.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_rows_store(path, shards) -> Path:
    """A store of raw shards at ``path``: ``shards`` is a list of ``(activations (B, C, H, W),
    pred (B,))``, in any dtype; ``manifest.json`` lists them (no head, no labels)."""
    from jaxconcepts.streaming._synthetic import write_tensors

    path = Path(path)
    entries = []
    for i, (act, pred) in enumerate(shards):
        name = f"shard-{i:05d}.safetensors"
        write_tensors(path / name, {"activations": act, "pred": np.asarray(pred, np.int32)})
        entries.append({"file": name, "rows": len(pred)})
    (path / "manifest.json").write_text(json.dumps(
        {"shards": entries, "n_images": sum(len(p) for _, p in shards),
         "shape": list(shards[0][0].shape[1:])}))
    return path


def write_headed_store(path, *, n_images: int, n_classes: int = 3, channels: int = 32,
                       hw: tuple[int, int] = (8, 8), k: int = 6, images_per_shard: int = 256,
                       pred_from_head: bool = False) -> Path:
    """A planted synthetic store (``write_synthetic_store``, float32, nonnegative) with a random GAP
    + linear head (``head.safetensors``) and each shard's logits and max probability under it, as
    an extracted store has them; ``pred_from_head``: ``pred`` becomes the head's argmax (else the
    planted class)."""
    from jaxconcepts.store import read_shard, write_shard
    from jaxconcepts.streaming import write_synthetic_store

    path = Path(path)
    manifest = write_synthetic_store(path, n_images=n_images, channels=channels, hw=hw, k=k,
                                     n_classes=n_classes, dtype="float32", nonnegative=True,
                                     noise=0.01, images_per_shard=images_per_shard)
    w = np.random.default_rng(0).standard_normal((n_classes, channels)).astype(np.float32)
    write_shard(path / "head.safetensors", {"weight": w, "bias": np.zeros(n_classes, np.float32)})
    for shard in manifest["shards"]:
        t = dict(read_shard(path / shard["file"]))
        z = t["activations"].mean(axis=(2, 3)) @ w.T
        e = np.exp(z - z.max(axis=1, keepdims=True))
        t["logits"], t["prob"] = z, (e / e.sum(axis=1, keepdims=True)).max(axis=1)
        if pred_from_head:
            t["pred"] = z.argmax(1).astype(np.int32)
        write_shard(path / shard["file"], t)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(module: str, *args, devices: int | None = None, processes: int = 1,
           coordinator: bool = True, timeout: int = 300, check: bool = True) -> list[int]:
    """``python -m module *args`` from the repository root on the CPU, in ``processes`` processes
    (``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID``, and a free ``JAX_COORDINATOR_ADDRESS`` when
    ``coordinator``) of ``devices`` forced CPU devices each (``None``: XLA's default). A process
    still running after ``timeout`` seconds is killed (a hung sharded program fails the test
    instead of blocking it). Returns the return codes; with ``check`` they must all be 0."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    if devices is not None:
        env["XLA_FLAGS"] = (f"{os.environ.get('XLA_FLAGS', '')} "
                            f"--xla_force_host_platform_device_count={devices}").strip()
    envs = [env]
    if processes > 1:
        extra = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{free_port()}"} if coordinator else {}
        envs = [dict(env, **extra, JAX_NUM_PROCESSES=str(processes), JAX_PROCESS_ID=str(i))
                for i in range(processes)]
    cmd = [sys.executable, "-m", module, *map(str, args)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=e) for e in envs]
    try:
        codes = [p.wait(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    if check:
        assert codes == [0] * len(procs), codes
    return codes
