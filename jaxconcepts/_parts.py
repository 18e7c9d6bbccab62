"""The per-image stages (``concepts``, ``importance``) on many processes: their output parts.

The devices of one process: :mod:`jaxconcepts.mesh` (:func:`~jaxconcepts.mesh.local_mesh`,
:func:`~jaxconcepts.mesh.sharded_batch`).

**Processes.** Process ``p`` of ``P`` (:func:`process_slot`: the launcher's variables, as for
``extract``; no coordinator is needed, since nothing is exchanged) reads store shards
``p, p + P, …`` (:func:`process_view`) and writes its own part
``<dir>/part-0000p-of-0000P.safetensors`` (:func:`write_part`). :func:`load_parts` reads every
part of a folder as one, rows ordered by image index, and checks the parts are complete: all ``P``
parts present, the same metadata, every image of the store exactly once. Process 0 waits for the
other parts (:func:`gather_parts`) and writes the stage's metrics JSON from the whole.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Parts", "load_concepts", "load_importance", "process_slot", "process_view",
           "part_path", "write_part", "load_parts", "gather_parts"]

PART_RE = re.compile(r"^part-(\d{5})-of-(\d{5})\.safetensors$")
#: metadata keys that differ between the parts of one output
PART_KEYS = ("part_index", "part_count", "part_images", "store_images", "part_info")


#: (index, count) variables of the launchers, as ``extract`` reads them
LAUNCHERS = (("JAX_PROCESS_ID", "JAX_NUM_PROCESSES"), ("SLURM_PROCID", "SLURM_NTASKS"),
             ("RANK", "WORLD_SIZE"))


def process_slot() -> tuple[int, int]:
    """(process index, process count) from the launcher's environment (``JAX_PROCESS_ID`` /
    ``JAX_NUM_PROCESSES``, ``SLURM_PROCID`` / ``SLURM_NTASKS``, ``RANK`` / ``WORLD_SIZE``, as
    ``extract``), else an initialised ``jax.distributed``, else (0, 1).

    The per-image stages exchange nothing between processes, so they need no coordinator.
    """
    for i_name, n_name in LAUNCHERS:
        if i_name in os.environ and n_name in os.environ:
            i, n = int(os.environ[i_name]), int(os.environ[n_name])
            if not 0 <= i < n:
                raise ValueError(f"{i_name}={i} should be in [0, {n_name}={n})")
            return i, n
    if "jax" in sys.modules:  # not imported: it cannot have been initialised either
        import jax

        if jax.distributed.is_initialized():
            return jax.process_index(), jax.process_count()
    return 0, 1


def process_view(store, process_index: int, process_count: int):
    """A view of ``store`` holding only shards ``process_index, process_index + process_count, …``
    (``len`` is the view's images; ``images`` still lists the whole store)."""
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index={process_index} should be in [0, process_count="
                         f"{process_count})")
    if process_count == 1:
        return store
    shards = store.manifest["shards"][process_index::process_count]
    if not shards:
        raise ValueError(f"process {process_index} of {process_count} has no store shard: the "
                         f"store {str(store.path)!r} has {len(store.manifest['shards'])} shards; "
                         "run at most that many processes")
    view = copy.copy(store)
    view.manifest = dict(store.manifest, shards=shards,
                         n_images=int(sum(s["rows"] for s in shards)))
    return view


def part_path(directory, process_index: int, process_count: int) -> Path:
    return Path(directory) / f"part-{process_index:05d}-of-{process_count:05d}.safetensors"


def write_part(directory, arrays: dict[str, np.ndarray], metadata: dict[str, str], *,
               process_index: int, process_count: int, store_images: int,
               info: dict[str, Any] | None = None) -> Path:
    """Write this process's part (atomically); ``info`` (JSON) is per-part (timings, counts).

    Process 0 also removes parts of another process count (a stale layout).
    """
    from jaxconcepts._io import save_arrays

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if process_index == 0:
        for f in directory.iterdir():
            m = PART_RE.match(f.name)
            if m and int(m.group(2)) != process_count:
                f.unlink()
    meta = dict(metadata, part_index=str(process_index), part_count=str(process_count),
                part_images=str(len(arrays["index"])), store_images=str(int(store_images)),
                part_info=json.dumps(info or {}))
    out = part_path(directory, process_index, process_count)
    save_arrays(out, arrays, metadata=meta)
    return out


class Parts(NamedTuple):
    """Every part of an output folder as one: ``arrays`` (rows ordered by image index),
    ``metadata`` (common to all parts) and ``infos`` (each part's ``info``, by process)."""

    arrays: dict[str, np.ndarray]
    metadata: dict[str, str]
    infos: list[dict[str, Any]]


def _read_rows(f: Path, keys, positions: np.ndarray) -> dict[str, np.ndarray]:
    """Rows ``positions`` (sorted) of every array of part ``f``, read run by run (safetensors
    slices), so only the wanted rows are read."""
    from safetensors import safe_open

    cuts = np.flatnonzero(np.diff(positions) != 1) + 1
    runs = [(int(r[0]), int(r[-1]) + 1) for r in np.split(positions, cuts) if r.size]
    out = {}
    with safe_open(str(f), framework="numpy") as h:
        for k in keys:
            sl = h.get_slice(k)
            parts = [sl[a:b] for a, b in runs]
            out[k] = np.concatenate(parts) if parts else sl[0:0]
    return out


def load_parts(directory, *, stage: str, expected_index=None, images=None) -> Parts:
    """Read the parts of ``directory`` (written by :func:`write_part`) as one.

    Args:
        directory: the output folder (``data/<ds>/<stage>``).
        stage: the stage that writes it (named in errors).
        expected_index: the store's image ids, when known; by default the parts' own record of
            the store's size is checked (every image exactly once).
        images: only these image ids' rows are read (a process of the next stage reads its own
            images, not the whole output); completeness is still checked on every part's
            ``index``, and every id asked for must be present.

    Raises:
        FileNotFoundError: no parts, or some of the ``P`` parts missing.
        ValueError: parts of different runs / layouts, an image missing or present twice.
    """
    from safetensors import safe_open

    from jaxconcepts._io import load_arrays

    directory = Path(directory)
    hint = f"run `jaxconcepts {stage}`"
    files = sorted(f for f in directory.iterdir() if PART_RE.match(f.name)) \
        if directory.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{str(directory)!r} holds no {stage} parts "
                                f"(part-XXXXX-of-YYYYY.safetensors); {hint} first")
    counts = {int(PART_RE.match(f.name).group(2)) for f in files}
    if len(counts) > 1:
        raise ValueError(f"{str(directory)!r} mixes parts of {sorted(counts)} processes; "
                         f"clear the folder and {hint} again")
    (count,) = counts
    have = {int(PART_RE.match(f.name).group(1)) for f in files}
    missing = [p for p in range(count) if p not in have]
    if missing:
        names = [part_path(directory, p, count).name for p in missing]
        raise FileNotFoundError(f"{str(directory)!r} is missing {len(missing)} of {count} parts: "
                                f"{names[:5]}; a process of `{stage}` did not finish ({hint})")
    metas, parts, full_index = [], [], []
    want = None if images is None else np.unique(np.asarray(images, np.int64))
    for f in files:
        with safe_open(str(f), framework="numpy") as h:
            metas.append(h.metadata() or {})
            if want is not None:
                keys = list(h.keys())
                idx = h.get_tensor("index")
        if want is None:
            parts.append(load_arrays(f))
        else:
            full_index.append(idx)
            pos = np.flatnonzero(np.isin(idx, want))
            parts.append(_read_rows(f, keys, pos))
    common = [{k: v for k, v in m.items() if k not in PART_KEYS} for m in metas]
    for f, c, m in zip(files, common, metas):
        if c != common[0] or m.get("store_images") != metas[0].get("store_images"):
            raise ValueError(f"{f.name} and {files[0].name} of {str(directory)!r} come from "
                             f"different runs (metadata differs); clear the folder and {hint}")
        if set(parts[0]) != set(parts[files.index(f)]):
            raise ValueError(f"{f.name} and {files[0].name} hold different arrays")
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(arrays["index"], kind="stable")
    arrays = {k: v[order] for k, v in arrays.items()}
    index = np.sort(np.concatenate(full_index)) if want is not None else arrays["index"]
    if want is not None:
        absent = np.setdiff1d(want, index)
        if absent.size:
            raise ValueError(f"the {stage} parts of {str(directory)!r} lack images "
                             f"{absent[:5].tolist()} asked for; {hint} again")
    dup = np.unique(index[1:][index[1:] == index[:-1]])
    if dup.size:
        raise ValueError(f"images {dup[:5].tolist()} appear more than once in the {stage} parts "
                         f"of {str(directory)!r}")
    if expected_index is not None:
        want = np.unique(np.asarray(expected_index))
        lost = np.setdiff1d(want, index)
        extra = np.setdiff1d(index, want)
        if lost.size or extra.size:
            raise ValueError(f"the {stage} parts of {str(directory)!r} do not match the store: "
                             f"missing images {lost[:5].tolist()}, unknown images "
                             f"{extra[:5].tolist()}; {hint} again")
    elif "store_images" in metas[0] and len(index) != int(metas[0]["store_images"]):
        raise ValueError(f"the {stage} parts of {str(directory)!r} hold {len(index)} images, the "
                         f"store {metas[0]['store_images']}; {hint} again")
    infos = [json.loads(m.get("part_info") or "{}") for m in metas]
    return Parts(arrays, common[0], infos)


def gather_parts(directory, *, stage: str, process_index: int, process_count: int,
                 timeout_s: float = 24 * 3600.0, poll_s: float = 0.5) -> Parts | None:
    """On process 0: wait until all ``process_count`` parts exist, then :func:`load_parts`;
    ``None`` on the other processes. Parts are written atomically, so a part that exists is whole.
    """
    if process_index != 0:
        return None
    want = [part_path(directory, p, process_count) for p in range(process_count)]
    t0 = time.monotonic()
    if not all(p.is_file() for p in want):
        print(f"{stage}: process 0 waits for the parts of {process_count} processes in "
              f"{str(directory)!r}", file=sys.stderr)
    while not all(p.is_file() for p in want):
        if time.monotonic() - t0 > timeout_s:
            lost = [p.name for p in want if not p.is_file()]
            raise TimeoutError(f"waited {timeout_s:.0f} s for {stage} parts {lost[:5]} in "
                               f"{str(directory)!r}; did every process run?")
        time.sleep(poll_s)
    return load_parts(directory, stage=stage)


def load_concepts(directory, *, expected_index=None, images=None) -> Parts:
    """The ``concepts`` stage's output folder (``data/<ds>/concepts``) as one: every process's
    part, rows ordered by image index, checked complete (:func:`load_parts`; ``images``: only
    those images' rows)."""
    return load_parts(directory, stage="concepts", expected_index=expected_index, images=images)


def load_importance(directory, *, expected_index=None) -> Parts:
    """The ``importance`` stage's output folder (``data/<ds>/importance``) as one: every
    process's part, rows ordered by image index, checked complete (:func:`load_parts`)."""
    return load_parts(directory, stage="importance", expected_index=expected_index)
