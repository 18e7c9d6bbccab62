"""The activation store: safetensors shards + a JSON manifest, read back as JAX arrays.

Activations are pulled from torch **once** (``jaxconcepts.features.extract``) and written here;
every later stage streams them shard by shard, so no stage needs the whole dataset in memory.
The format is documented in ``docs/ARCHITECTURE.md``.

Shards are safetensors files written by :func:`write_shard` (deterministic bytes; float32,
float16 or bfloat16 activations). The manifest lists each shard's ``file``, ``rows``,
``sha256`` and ``first_index``; a shard without an ``index`` tensor gets
``first_index + arange(rows)``. Readers return float32 activations unless asked otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, NamedTuple

import jax.numpy as jnp
import ml_dtypes
import numpy as np

from jaxconcepts._safetensors import keys as _tensor_names
from jaxconcepts._safetensors import read as _read
from jaxconcepts._safetensors import write as _write
from jaxconcepts._io import atomic_dir, sha256_file, write_json
from jaxconcepts.heads import HeadParams  # the stored head (``head.safetensors``)

__all__ = ["ActivationStore", "StoreWriter", "Batch", "HeadParams", "FIELDS", "STORE_DTYPES",
           "write_shard", "read_shard"]

FIELDS = ("activations", "logits", "target", "label", "pred", "prob", "index")
_DTYPES = {
    "activations": np.float32, "logits": np.float32, "target": np.int32, "label": np.int32,
    "pred": np.int32, "prob": np.float32, "index": np.int32,
}
STORE_DTYPES = {"float32": np.dtype(np.float32), "float16": np.dtype(np.float16),
                "bfloat16": np.dtype(ml_dtypes.bfloat16)}


def store_dtype(name: str) -> np.dtype:
    """The numpy dtype of an ``extract.dtype`` name."""
    if name not in STORE_DTYPES:
        raise ValueError(f"dtype={name!r}; valid choices: {sorted(STORE_DTYPES)}")
    return STORE_DTYPES[name]


def write_shard(path: str | Path, arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` as one safetensors file atomically; return its sha256.

    Bytes depend only on the arrays (names sorted, no metadata), so equal inputs give equal
    files; bfloat16 is supported (numpy's ``ml_dtypes.bfloat16``). The codec is
    :mod:`jaxconcepts._safetensors`.
    """
    return _write(path, arrays)


def read_shard(path: str | Path, keys=None) -> dict[str, np.ndarray]:
    """Read a safetensors file (any of its dtypes, bfloat16 included) as numpy arrays."""
    return _read(path, keys)


class Batch(NamedTuple):
    """One batch of stored rows, as JAX arrays (B = rows in the batch)."""

    activations: jnp.ndarray  # (B, C, H, W) float32 (or the stored dtype on request): A
    logits: jnp.ndarray  # (B, K) float32
    target: jnp.ndarray  # (B,) int32
    label: jnp.ndarray  # (B,) int32, -1 when unlabelled
    pred: jnp.ndarray  # (B,) int32
    prob: jnp.ndarray  # (B,) float32, softmax probability of pred
    index: jnp.ndarray  # (B,) int32, global image ids


def write_head(path: Path, head: HeadParams) -> None:
    write_shard(path, {"weight": np.asarray(head.weight, np.float32),
                       "bias": np.asarray(head.bias, np.float32)})


class StoreWriter:
    """Accumulate rows and write them as fixed-size shards into a temporary directory.

    Use as a context manager; the store appears at ``path`` only when ``finish`` ran and the
    block exits without an exception (an interrupted write leaves the old store, or none).
    ``dtype`` is the activations' storage dtype (``float32``, ``float16``, ``bfloat16``).
    (Extraction itself writes resumable shards through ``jaxconcepts.features.extract``.)
    """

    def __init__(self, path: str | Path, *, shard_size: int = 256, dtype: str = "float32"):
        if shard_size < 1:
            raise ValueError(f"shard_size={shard_size} should be >= 1")
        self.path = Path(path)
        self.shard_size = int(shard_size)
        self.dtype = store_dtype(dtype)
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
            dt = self.dtype if k == "activations" else _DTYPES[k]
            a = np.asarray(rows[k]).astype(dt, copy=False)
            if a.shape[0] != n:
                raise ValueError(f"field {k!r} has {a.shape[0]} rows, index has {n}")
            self._buf[k].append(a)
        self._nbuf += n
        while self._nbuf >= self.shard_size:
            self._flush(self.shard_size)

    def _flush(self, n: int) -> None:
        cat = {k: np.concatenate(v) for k, v in self._buf.items()}
        name = f"shard-{len(self._shards):05d}.safetensors"
        sha = write_shard(self._tmp / name, {k: v[:n] for k, v in cat.items()})
        self._shards.append({"file": name, "rows": int(n), "sha256": sha,
                             "first_index": int(cat["index"][0])})
        self._rows += n
        self._buf = {k: [v[n:]] for k, v in cat.items()}
        self._nbuf -= n

    def finish(self, manifest: dict, head: HeadParams | None = None) -> dict:
        """Flush the last shard and write ``head.safetensors`` and ``manifest.json``."""
        if self._nbuf:
            self._flush(self._nbuf)
        if head is not None:
            write_head(self._tmp / "head.safetensors", head)
        manifest = dict(manifest, shards=self._shards, n_images=self._rows,
                        dtype=str(self.dtype))
        write_json(self._tmp / "manifest.json", manifest)
        self._finished = True
        return manifest


class ActivationStore:
    """Read an activation store written by :class:`StoreWriter` or ``extract``.

    Args:
        path: the store directory.
        image_root: where the images of the manifest (recorded relative to their dataset root)
            live; None → the ``images`` folder next to the store (``data/<ds>/images``).

    Example:
        >>> store = ActivationStore("data/photos/activations")
        >>> for batch in store.iter_batches(64):
        ...     A = batch.activations  # (B, C, H, W) float32 jax array
    """

    def __init__(self, path: str | Path, *, image_root: str | Path | None = None):
        self.path = Path(path)
        mpath = self.path / "manifest.json"
        if not mpath.is_file():
            raise FileNotFoundError(
                f"{str(self.path)!r} is not an activation store (no manifest.json); "
                "run `jaxconcepts extract` (or `dvc repro`) first"
            )
        self.manifest = json.loads(mpath.read_text())
        self.image_root = (Path(image_root) if image_root is not None
                           else self.path.parent / "images")
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
    def dtype(self) -> np.dtype:
        """Storage dtype of the activations (reads convert to float32 by default)."""
        return store_dtype(self.manifest.get("dtype", "float32"))

    @property
    def images(self) -> list[dict]:
        """Manifest image records, with ``path`` resolved against ``image_root`` and the
        recorded dataset-relative path kept as ``rel``."""
        out = []
        for im in self.manifest["images"]:
            rel = im["path"]
            out.append(dict(im, rel=rel, path=str(self.image_path(rel))))
        return out

    def image_path(self, rel: str) -> Path:
        """The file of a recorded image path: dataset-relative in stores written by ``extract``
        (format >= 2); taken as it is in older or hand-made stores."""
        p = Path(rel)
        if p.is_absolute() or int(self.manifest.get("format", 1)) < 2:
            return p
        return self.image_root / p

    @property
    def head(self) -> HeadParams | None:
        """The GAP + linear head's parameters, or None when h is something else."""
        p = self.path / "head.safetensors"
        if not p.is_file():
            return None
        a = read_shard(p)
        return HeadParams(jnp.asarray(a["weight"]), jnp.asarray(a["bias"]))

    def verify(self) -> list[str]:
        """Files whose sha256 differs from the manifest's (empty when the store is intact)."""
        return [s["file"] for s in self.manifest["shards"]
                if "sha256" in s and sha256_file(self.path / s["file"]) != s["sha256"]]

    def _iter_shards(self, fields: tuple[str, ...], dtype=np.float32
                     ) -> Iterator[dict[str, np.ndarray]]:
        for s in self.manifest["shards"]:
            path = self.path / s["file"]
            synth = "index" in fields and "index" not in _tensor_names(path)
            keys = [k for k in fields if not (synth and k == "index")]
            a = read_shard(path, keys)
            if synth:
                a["index"] = np.arange(s["first_index"], s["first_index"] + s["rows"],
                                       dtype=np.int32)
            if "activations" in a and dtype is not None:
                a["activations"] = a["activations"].astype(dtype, copy=False)
            yield a

    def iter_batches(
        self, batch_size: int, *, fields: tuple[str, ...] = FIELDS, as_jax: bool = True,
        dtype=np.float32,
    ) -> Iterator[Batch] | Iterator[dict[str, np.ndarray]]:
        """Stream rows in order, ``batch_size`` at a time (the last batch may be shorter).

        Memory holds at most one shard plus one batch. With ``fields`` other than all of
        ``FIELDS``, yields dicts of the requested fields instead of :class:`Batch`.
        Activations come as ``dtype`` (float32 by default; None keeps the stored dtype).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} should be >= 1")
        bad = [f for f in fields if f not in FIELDS]
        if bad:
            raise ValueError(f"fields {bad} are not store fields; valid choices: {list(FIELDS)}")
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

        for shard in self._iter_shards(tuple(fields), dtype):
            for k in fields:
                pending[k].append(shard[k])
            n_pending += len(shard[fields[0]])
            while n_pending >= batch_size:
                yield emit(batch_size)
        if n_pending:
            yield emit(n_pending)

    def read(self, field: str, *, dtype=np.float32) -> np.ndarray:
        """One field for every image, concatenated (for small fields: pred, prob, logits…)."""
        if field not in FIELDS:
            raise ValueError(f"field={field!r}; valid choices: {list(FIELDS)}")
        return np.concatenate([s[field] for s in self._iter_shards((field,), dtype)])
