"""The one safetensors codec of the package: dtype names, header, reads, the deterministic writer.

A safetensors file is an 8-byte little-endian header length, a JSON header (each tensor's
``dtype``, ``shape`` and ``data_offsets`` into the data that follows; an optional
``__metadata__`` map of strings) padded with spaces to 8 bytes, then the tensors' bytes. The
store's shards, the crop store, the synthetic stores and the stages' parts are read and written
here (bfloat16 through ``ml_dtypes``), so there is one dtype table and one header parser.
:func:`write` gives the same bytes for the same arrays (names sorted, compact JSON).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import ml_dtypes
import numpy as np

__all__ = ["DTYPES", "NAMES", "MissingTensor", "read_header", "keys", "metadata", "tensor_info",
           "read", "read_tensor", "encode", "write"]

#: safetensors dtype name → NumPy dtype
DTYPES: dict[str, np.dtype] = {name: np.dtype(t) for name, t in (
    ("F64", np.float64), ("F32", np.float32), ("F16", np.float16), ("BF16", ml_dtypes.bfloat16),
    ("I64", np.int64), ("I32", np.int32), ("I16", np.int16), ("I8", np.int8),
    ("U64", np.uint64), ("U32", np.uint32), ("U16", np.uint16), ("U8", np.uint8),
    ("BOOL", np.bool_))}
#: NumPy dtype → safetensors dtype name
NAMES: dict[np.dtype, str] = {dt: name for name, dt in DTYPES.items()}


def read_header(path: str | os.PathLike) -> tuple[dict[str, Any], int]:
    """``(header, data_start)``: the JSON header (``__metadata__`` included when present) and the
    offset of the data in the file."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n)), 8 + n


def keys(path: str | os.PathLike) -> list[str]:
    """The tensor names of a file, in header order."""
    return [k for k in read_header(path)[0] if k != "__metadata__"]


def metadata(path: str | os.PathLike) -> dict[str, str]:
    """The file's string metadata ({} when none)."""
    return dict(read_header(path)[0].get("__metadata__") or {})


class MissingTensor(KeyError, ValueError):
    """A file has no tensor of that name (a ``KeyError`` for readers of a mapping, a
    ``ValueError`` for checkers of a store)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _entry(header: Mapping, path, name: str) -> tuple[Mapping, np.dtype]:
    if name not in header or name == "__metadata__":
        raise MissingTensor(f"{str(path)!r} has no tensor {name!r}; it has "
                       f"{sorted(k for k in header if k != '__metadata__')}")
    e = header[name]
    if e["dtype"] not in DTYPES:
        raise TypeError(f"tensor {name!r} of {str(path)!r} has dtype {e['dtype']}; supported: "
                        f"{sorted(DTYPES)}")
    return e, DTYPES[e["dtype"]]


def tensor_info(path: str | os.PathLike, name: str) -> tuple[tuple[int, ...], str]:
    """``(shape, safetensors dtype name)`` of one tensor, from the header only."""
    header, _ = read_header(path)
    e, _ = _entry(header, path, name)
    return tuple(e["shape"]), e["dtype"]


def read_tensor(path: str | os.PathLike, name: str, *, mapped: bool = False) -> np.ndarray:
    """One tensor as NumPy; ``mapped``: a copy-on-write memory map instead (pages are read when
    used, no copy of the file)."""
    header, base = read_header(path)
    e, dt = _entry(header, path, name)
    start, end = e["data_offsets"]
    if mapped:
        if end == start:
            return np.zeros(e["shape"], dt)
        return np.memmap(path, dtype=dt, mode="c", offset=base + start, shape=tuple(e["shape"]))
    arr = np.fromfile(path, dtype=dt, count=(end - start) // dt.itemsize, offset=base + start)
    return arr.reshape(e["shape"])


def read(path: str | os.PathLike, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Tensors of a file as NumPy arrays (``names``, default every one, in header order)."""
    header, base = read_header(path)
    names = [k for k in header if k != "__metadata__"] if names is None else list(names)
    out = {}
    with open(path, "rb") as f:
        for k in names:
            e, dt = _entry(header, path, k)
            start, end = e["data_offsets"]
            f.seek(base + start)
            out[k] = np.fromfile(f, dtype=dt, count=(end - start) // dt.itemsize
                                 ).reshape(e["shape"])
    return out


def encode(arrays: Mapping[str, Any], meta: Mapping[str, str] | None = None
           ) -> tuple[bytes, list[np.ndarray]]:
    """``(header bytes with their length prefix, the arrays' data in order)``: names sorted,
    compact JSON, ``__metadata__`` first when given; the same arrays give the same bytes."""
    header: dict[str, Any] = {}
    if meta:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(meta.items())}
    blobs, offset = [], 0
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        if a.dtype not in NAMES:
            raise TypeError(f"array {k!r} has dtype {a.dtype}; valid: {sorted(map(str, NAMES))}")
        b = a.reshape(-1).view(np.uint8)  # the array's bytes, not a copy of them
        header[k] = {"dtype": NAMES[a.dtype], "shape": list(a.shape),
                     "data_offsets": [offset, offset + b.nbytes]}
        blobs.append(b)
        offset += b.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data stays 8-byte aligned
    return len(h).to_bytes(8, "little") + h, blobs


def write(path: str | os.PathLike, arrays: Mapping[str, Any],
          meta: Mapping[str, str] | None = None) -> str:
    """Write ``arrays`` as one safetensors file atomically (:func:`encode`'s bytes, fsynced);
    return its sha256."""
    from jaxconcepts._io import atomic_path

    head, blobs = encode(arrays, meta)
    digest = hashlib.sha256()
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as f:
            for part in (head, *blobs):
                f.write(part)
                digest.update(part)
            f.flush()
            os.fsync(f.fileno())
    return digest.hexdigest()
