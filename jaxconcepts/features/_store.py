"""The activation store: safetensors shards + a JSON manifest, read back as JAX arrays.

Activations are pulled from torch **once** (``jaxconcepts.features.extract``) and written here;
every later stage streams them shard by shard, so no stage needs the whole dataset in memory.
The format is documented in ``docs/ARCHITECTURE.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxconcepts._io import atomic_dir, load_arrays, save_arrays, write_json

__all__ = ["ActivationStore", "StoreWriter", "Batch", "HeadParams", "FIELDS"]

FIELDS = ("activations", "logits", "target", "label", "pred", "prob", "index")
_DTYPES = {
    "activations": np.float32, "logits": np.float32, "target": np.int32, "label": np.int32,
    "pred": np.int32, "prob": np.float32, "index": np.int32,
}


class Batch(NamedTuple):
    """One batch of stored rows, as JAX arrays (B = rows in the batch)."""

    activations: jnp.ndarray  # (B, C, H, W) float32: A
    logits: jnp.ndarray  # (B, K) float32
    target: jnp.ndarray  # (B,) int32
    label: jnp.ndarray  # (B,) int32, -1 when unlabelled
    pred: jnp.ndarray  # (B,) int32
    prob: jnp.ndarray  # (B,) float32, softmax probability of pred
    index: jnp.ndarray  # (B,) int32, global image ids


class HeadParams(NamedTuple):
    """h = global average pool + linear: logits = A.mean((-2, -1)) @ weight.T + bias."""

    weight: jnp.ndarray  # (K, C)
    bias: jnp.ndarray  # (K,)


class StoreWriter:
    """Accumulate rows and write them as fixed-size shards into a temporary directory.

    Use as a context manager; the store appears at ``path`` only when ``finish`` ran and the
    block exits without an exception (an interrupted extraction leaves the old store, or none).
    """

    def __init__(self, path: str | Path, *, shard_size: int = 256):
        if shard_size < 1:
            raise ValueError(f"shard_size={shard_size} should be >= 1")
        self.path = Path(path)
        self.shard_size = int(shard_size)
        self._ctx = atomic_dir(self.path)
        self._buf: dict[str, list[np.ndarray]] = {k: [] for k in FIELDS}
        self._nbuf = 0
        self._shards: list[dict] = []
        self._rows = 0
        self._tmp: Path | None = None
        self._finished = False

    def __enter__(self) -> "StoreWriter":
        self._tmp = self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> bool | None:
        if exc[0] is None and not self._finished:
            exc = (RuntimeError, RuntimeError("StoreWriter closed without finish()"), None)
            self._ctx.__exit__(*exc)
            raise exc[1]
        return self._ctx.__exit__(*exc)

    def add(self, **rows: np.ndarray) -> None:
        """Append rows: every field of ``FIELDS`` with the same leading length."""
        missing = set(FIELDS) - set(rows)
        if missing:
            raise ValueError(f"StoreWriter.add is missing fields {sorted(missing)}")
        n = len(rows["index"])
        for k in FIELDS:
            a = np.asarray(rows[k], dtype=_DTYPES[k])
            if a.shape[0] != n:
                raise ValueError(f"field {k!r} has {a.shape[0]} rows, index has {n}")
            self._buf[k].append(a)
        self._nbuf += n
        while self._nbuf >= self.shard_size:
            self._flush(self.shard_size)

    def _flush(self, n: int) -> None:
        cat = {k: np.concatenate(v) for k, v in self._buf.items()}
        name = f"shard-{len(self._shards):05d}.safetensors"
        save_arrays(self._tmp / name, {k: v[:n] for k, v in cat.items()})
        self._shards.append({"file": name, "rows": int(n)})
        self._rows += n
        self._buf = {k: [v[n:]] for k, v in cat.items()}
        self._nbuf -= n

    def finish(self, manifest: dict, head: HeadParams | None = None) -> dict:
        """Flush the last shard and write ``head.safetensors`` and ``manifest.json``."""
        if self._nbuf:
            self._flush(self._nbuf)
        if head is not None:
            save_arrays(self._tmp / "head.safetensors", {"weight": head.weight, "bias": head.bias})
        manifest = dict(manifest, shards=self._shards, n_images=self._rows)
        write_json(self._tmp / "manifest.json", manifest)
        self._finished = True
        return manifest


class ActivationStore:
    """Read an activation store written by :class:`StoreWriter`.

    Example:
        >>> store = ActivationStore("data/photos/activations")
        >>> for batch in store.iter_batches(64):
        ...     A = batch.activations  # (B, C, H, W) jax array
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        mpath = self.path / "manifest.json"
        if not mpath.is_file():
            raise FileNotFoundError(
                f"{str(self.path)!r} is not an activation store (no manifest.json); "
                "run `jaxconcepts extract` (or `dvc repro`) first"
            )
        self.manifest = json.loads(mpath.read_text())
        for s in self.manifest["shards"]:
            if not (self.path / s["file"]).is_file():
                raise FileNotFoundError(f"store {str(self.path)!r} is missing shard {s['file']!r}")

    def __len__(self) -> int:
        return int(self.manifest["n_images"])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image's activations."""
        return tuple(self.manifest["shape"])

    @property
    def images(self) -> list[dict]:
        return self.manifest["images"]

    @property
    def head(self) -> HeadParams | None:
        """The GAP + linear head's parameters, or None when h is something else."""
        p = self.path / "head.safetensors"
        if not p.is_file():
            return None
        a = load_arrays(p)
        return HeadParams(jnp.asarray(a["weight"]), jnp.asarray(a["bias"]))

    def _iter_shards(self, fields: tuple[str, ...]) -> Iterator[dict[str, np.ndarray]]:
        for s in self.manifest["shards"]:
            yield load_arrays(self.path / s["file"], list(fields))

    def iter_batches(
        self, batch_size: int, *, fields: tuple[str, ...] = FIELDS, as_jax: bool = True
    ) -> Iterator[Batch] | Iterator[dict[str, np.ndarray]]:
        """Stream rows in order, ``batch_size`` at a time (the last batch may be shorter).

        Memory holds at most one shard plus one batch. With ``fields`` other than all of
        ``FIELDS``, yields dicts of the requested fields instead of :class:`Batch`.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} should be >= 1")
        full = tuple(fields) == FIELDS
        pending: dict[str, list[np.ndarray]] = {k: [] for k in fields}
        n_pending = 0

        def emit(n: int):
            nonlocal pending, n_pending
            cat = {k: np.concatenate(v) if len(v) > 1 else v[0] for k, v in pending.items()}
            out = {k: v[:n] for k, v in cat.items()}
            pending = {k: [v[n:]] for k, v in cat.items()}
            n_pending -= n
            if as_jax:
                out = {k: jnp.asarray(v) for k, v in out.items()}
            return Batch(**out) if full else out

        for shard in self._iter_shards(tuple(fields)):
            for k in fields:
                pending[k].append(shard[k])
            n_pending += len(shard[fields[0]])
            while n_pending >= batch_size:
                yield emit(batch_size)
        if n_pending:
            yield emit(n_pending)

    def read(self, field: str) -> np.ndarray:
        """One field for every image, concatenated (for small fields: pred, prob, logits…)."""
        if field not in FIELDS:
            raise ValueError(f"field={field!r}; valid choices: {list(FIELDS)}")
        return np.concatenate([s[field] for s in self._iter_shards((field,))])
