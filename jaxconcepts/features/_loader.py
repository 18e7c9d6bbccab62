"""Extraction's input and output pipeline, kept off the forward pass's critical path.

- **Input**: images are decoded, oriented, converted and resized+cropped (``extract.resize``:
  timm's PIL ops, or torch's uint8 resize, see ``_preprocess``) by ``workers`` DataLoader
  processes, or, with ``workers=0``, by loader threads of this process; either way ``prefetch``
  batches ahead of the forward pass. For a CPU forward the loaders also normalise their chunk
  (``_preprocess.normalize_uint8``, NumPy, bit-identical to timm's ToTensor + Normalize), which
  keeps that work off the forward's thread; for a GPU, pixels travel as uint8 and are
  normalised per batch on the device (``_preprocess.normalize_batch``, the same bits).
- **Output**: finished shards are written (checksummed, fsynced) by one background thread, in
  shard order, while the next batches run; at most one shard waits for the writer.
- **Priority**: loaders run at a lower CPU priority than the forward pass (``LOADER_NICE`` on
  Linux: the worker processes, or only the loader thread). On a machine with fewer free cores than
  busy threads, an OpenMP forward pass whose thread is preempted by a decoder stalls at every
  barrier; with lower priority the decoders take the cores' idle moments instead. On an idle
  machine with spare cores, niceness changes nothing.

Each loaded image reports the CPU seconds (its thread's) it spent in ``load`` (open, decode,
EXIF, convert to RGB), ``resize_crop`` (resize + crop + the copy to a uint8 array) and ``sha256``
(reading the file, read once for both, and hashing it),
so a run can say where its time went (see ``extract(timings=...)``).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import functools
import hashlib
import os
import sys
import threading
import time
import warnings
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from jaxconcepts._io import sha256_file
from jaxconcepts.features._images import ImageLoadError, load_image
from jaxconcepts.features._preprocess import normalize_uint8

__all__ = ["LOADER_NICE", "set_loader_nice", "ImageDataset", "collate", "iter_batches",
           "ShardWriter", "PhaseClock", "second_openmp_team"]

LOADER_NICE = 10  # niceness added to loaders and the writer when the forward runs on the CPU


def set_loader_nice(nice: int) -> None:
    """The niceness added to the image loaders and the shard writer when extraction's forward
    runs on the CPU (:data:`LOADER_NICE`, 10 by default), for the extractions that follow."""
    global LOADER_NICE
    LOADER_NICE = int(nice)


def _lower_priority(nice: int, *_args) -> None:
    """Raise the calling thread's niceness by ``nice`` (Linux, where threads have their own;
    elsewhere, and where not permitted, the priority stays as it is)."""
    if nice and sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
        except OSError:
            pass


class ImageDataset(torch.utils.data.Dataset):
    """Decode + resize one image; a bad file becomes a reason, never an exception.

    Item: ``(i, uint8 (H, W, 3) tensor or None, reason or None, notes, sha256 or None,
    {phase: CPU seconds})``. ``normalize``: ``(mean, std)`` when the loaders normalise their
    chunks (``collate``), else None. ``jpeg_draft``: see ``_images.load_image``.
    """

    def __init__(self, records, transform, resize_short, normalize=None, jpeg_draft=None):
        self.records, self.transform, self.resize_short = records, transform, resize_short
        self.normalize, self.jpeg_draft = normalize, jpeg_draft

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        r = self.records[i]
        t = [time.thread_time()]
        try:
            data = _read_small(r.path)  # read once: hashed here, decoded from memory
            sha = hashlib.sha256(data).hexdigest() if data is not None else None
            t.append(time.thread_time())
            im, notes = load_image(r.path, resize_short=self.resize_short, data=data,
                                   jpeg_draft=self.jpeg_draft)
            t.append(time.thread_time())
            x = self.transform(im)
            if not isinstance(x, torch.Tensor):  # uint8 HWC pixels; normalised per batch
                x = torch.from_numpy(np.array(x, np.uint8, copy=True))
            t.append(time.thread_time())
            sha = sha or sha256_file(r.path)  # a large file: hashed in chunks
            t.append(time.thread_time())
            seconds = {"load": t[2] - t[1], "resize_crop": t[3] - t[2],
                       "sha256": t[1] - t[0] + t[4] - t[3]}
            return i, x, None, notes, sha, seconds
        except ImageLoadError as e:
            reason = e.reason
        except Exception as e:  # hostile input must not stop the run: record what happened
            reason = f"{type(e).__name__}: {e}"
        return i, None, reason.replace(str(r.path), r.rel), [], None, {}


def _read_small(path, limit: int = 1 << 26) -> bytes | None:
    """The file's bytes when it is at most ``limit`` bytes (64 MiB), else None. An unreadable
    file gives None too: ``load_image`` then reports why."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def collate(items, normalize=None):
    """Items → ``(meta, x)``: meta ``[(i, reason, notes, sha, seconds)]``, x the decoded images
    as one (B, 3, H, W) channels_last batch (uint8 from the split transform; float32 when
    ``normalize=(mean, std)``), or None."""
    ok = [it[1] for it in items if it[1] is not None]
    x = None
    if ok and ok[0].dtype == torch.uint8:  # (B, H, W, 3) viewed as channels_last (B, 3, H, W)
        a = np.stack([t.numpy() for t in ok])  # NumPy: no OpenMP team in a loader thread
        if normalize is not None:
            a = normalize_uint8(a, *normalize)
        x = torch.from_numpy(a).permute(0, 3, 1, 2)
    elif ok:
        x = torch.stack(ok).contiguous(memory_format=torch.channels_last)
    return [(it[0], *it[2:]) for it in items], x


def _load_chunk(dataset: ImageDataset, indices: list[int]):
    return collate([dataset[i] for i in indices], dataset.normalize)


def iter_batches(dataset: ImageDataset, batches: list[list[int]], *, workers: int, prefetch: int,
                 pin_memory: bool, nice: int = 0) -> Iterator[tuple[list, torch.Tensor | None]]:
    """Yield ``collate``d batches in order, loaded ahead of the caller.

    Each batch is cut into one chunk per loader (``workers`` processes, or with ``workers=0``
    ``torch.get_num_threads()`` threads of this process), so that every loader works on every
    batch: the first batch is ready after 1/loaders of its decoding, and whenever the caller
    waits, all loaders work for it. Each loader keeps ``prefetch`` chunks ahead (``prefetch``
    batches in all). Loaders run ``nice`` steps below the caller's priority.
    """
    loaders = int(workers) or max(1, torch.get_num_threads())
    chunks, n_chunks = [], []
    for b in batches:
        size = -(-len(b) // loaders)
        chunks += [b[i:i + size] for i in range(0, len(b), size)]
        n_chunks.append(-(-len(b) // size))
    if workers:
        parts = iter(torch.utils.data.DataLoader(
            dataset, batch_sampler=chunks, num_workers=int(workers),
            collate_fn=functools.partial(collate, normalize=dataset.normalize),
            prefetch_factor=int(prefetch), pin_memory=pin_memory,
            worker_init_fn=functools.partial(_lower_priority, nice)))
        for n in n_chunks:
            yield _join([next(parts) for _ in range(n)])
        # joining the exiting workers takes a while: let it overlap the caller's last steps
        if hasattr(parts, "_shutdown_workers"):
            threading.Thread(target=parts._shutdown_workers, name="jaxconcepts-load-exit").start()
        return
    with concurrent.futures.ThreadPoolExecutor(loaders, thread_name_prefix="jaxconcepts-load",
                                               initializer=_lower_priority,
                                               initargs=(nice,)) as pool:
        todo = iter(chunks)
        ahead = collections.deque(pool.submit(_load_chunk, dataset, c)
                                  for c in _take(todo, loaders * int(prefetch)))
        try:
            for n in n_chunks:
                parts = [ahead.popleft().result() for _ in range(n)]
                ahead.extend(pool.submit(_load_chunk, dataset, c) for c in _take(todo, n))
                meta, x = _join(parts)
                yield meta, (x.pin_memory() if pin_memory and x is not None else x)
        finally:
            for f in ahead:
                f.cancel()


def _join(parts):
    """Chunks of one batch → one ``(meta, x)`` (x stays channels_last)."""
    if len(parts) == 1:
        return parts[0]
    xs = [x for _, x in parts if x is not None]
    x = torch.cat(xs) if len(xs) > 1 else (xs[0] if xs else None)
    return [m for meta, _ in parts for m in meta], x


def _take(it: Iterable, n: int) -> list:
    out = []
    for x in it:
        out.append(x)
        if len(out) == n:
            break
    return out


@contextlib.contextmanager
def second_openmp_team(enabled: bool = True):
    """Keep a second, idle OpenMP thread team alive in this process for the block.

    libgomp spin-waits at barriers for a long while (``GOMP_SPINCOUNT``) unless it manages more
    threads than there are CPUs; then it spins briefly and sleeps. A thread that has run one
    parallel torch op holds such a team. During a CPU extraction the short spin lets forward
    threads that wait at a barrier give their core to the (niced) loaders and writer instead of
    burning it; when other processes compete for the cores it also keeps a preempted thread
    from stalling the rest (the forward alone ran about 2x faster that way on a loaded 2-core
    machine; ``benchmarks/extraction.py`` measures its ceiling both ways). Other OpenMP
    runtimes just see one idle thread.
    """
    if not enabled:
        yield
        return
    release, ready = threading.Event(), threading.Event()

    def hold():
        try:
            torch.ones(1 << 22).add_(1)  # large enough for torch to run it in parallel
        finally:
            ready.set()
        release.wait()

    t = threading.Thread(target=hold, name="jaxconcepts-openmp-team", daemon=True)
    t.start()
    ready.wait()
    try:
        yield
    finally:
        release.set()
        t.join()


class ShardWriter:
    """Run ``commit(*args)`` calls one after the other on a background thread.

    ``submit`` waits for the previous commit first (so at most one finished shard waits in
    memory, and commits happen in submission order); ``close`` waits for the last one. An
    exception in a commit is raised by the next ``submit`` or ``close``. ``busy_wait`` sums
    the seconds the caller spent waiting for the writer.
    """

    def __init__(self, commit: Callable[..., Any], *, nice: int = 0):
        self._commit = commit
        self._pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="jaxconcepts-write", initializer=_lower_priority,
            initargs=(nice,))
        self._last: concurrent.futures.Future | None = None
        self.busy_wait = 0.0
        self.seconds = 0.0

    def _run(self, args):
        t0 = time.perf_counter()
        self._commit(*args)
        self.seconds += time.perf_counter() - t0

    def _wait(self) -> None:
        if self._last is not None:
            t0 = time.perf_counter()
            try:
                self._last.result()
            finally:
                self.busy_wait += time.perf_counter() - t0
                self._last = None

    def submit(self, *args) -> None:
        self._wait()
        self._last = self._pool.submit(self._run, args)

    def close(self) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:  # finish what was submitted (a committed shard is never half-written), then raise
            try:
                self.close()
            except Exception as e:  # the caller's exception is the one raised
                warnings.warn(f"the shard writer failed too: {type(e).__name__}: {e}",
                              stacklevel=2)


class PhaseClock:
    """Seconds per phase of one extraction, added into ``timings`` (a no-op when it is None).

    Keys: main-thread wall seconds ``wait_for_input_first`` (until the first batch: the loaders
    start and decode it), ``wait_for_input`` (later batches), ``normalize``, ``forward``,
    ``wait_for_writer``, ``merge``; ``writer`` (the background writer's wall seconds:
    ``to_numpy_and_checks`` (activations to NumPy, NaN/Inf checks, softmax), concatenate,
    safetensors bytes, sha256, fsync, JSON record); the loaders' CPU
    seconds summed over images, ``loader_cpu_load``, ``loader_cpu_resize_crop``,
    ``loader_cpu_sha256``; and ``images`` (images loaded).
    """

    def __init__(self, timings: dict | None):
        self.timings = timings

    def _add(self, name: str, seconds: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + seconds

    @contextlib.contextmanager
    def __call__(self, name: str):
        if self.timings is None:
            yield
            return
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._add(name, time.perf_counter() - t0)

    def timed(self, it: Iterable, name: str) -> Iterator:
        """Iterate ``it``, adding the time spent waiting for each item to ``name`` (the first
        item's wait, which includes starting the loaders, to ``name + "_first"``)."""
        it, key = iter(it), name + "_first"
        while True:
            t0 = time.perf_counter()
            try:
                x = next(it)
            except StopIteration:
                return
            finally:
                if self.timings is not None:
                    self._add(key, time.perf_counter() - t0)
                key = name
            yield x

    def add_images(self, meta) -> None:
        if self.timings is None:
            return
        for *_, seconds in meta:
            for phase, s in seconds.items():
                self._add(f"loader_cpu_{phase}", s)
        self._add("images", len(meta))

    def add_writer(self, writer: "ShardWriter") -> None:
        if self.timings is not None:
            self._add("wait_for_writer", writer.busy_wait)
            self._add("writer", writer.seconds)
