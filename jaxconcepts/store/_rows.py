"""The *rows* view of an activation store: spatial positions × channels, with each row's class.

An activation store holds per-image maps ``(C, H, W)``; the dictionary methods (C2MF, NMF, PCA)
work on rows ``a_i ∈ R^C``, one per spatial position, each with the class of its image. The rows
view streams them **shard by shard in manifest order**, in fixed-shape batches of whole images,
with the next batches read on a background thread while the current one is being used. Memory is
a few batches plus one shard, independent of the number of rows.

A batch is ``A (n_img, ch, C)`` float32 (``ch = H·W`` rows per image, all of the image's class),
``y (n_img,)`` int32 and ``valid (n_img,)`` bool; the batch is padded with zero images
(``valid = False``) so every batch has the same shape and one compiled program serves them all.
Zero rows contribute nothing to any statistic of the streamed solvers.

**Many processes.** Process ``p`` of ``P`` reads shards ``p, p + P, p + 2P, …``. Every process
knows every shard's size from the manifest, so all of them run the same number of batches per
pass (:attr:`RowsView.n_batches`, the largest local count; shorter processes pad with empty
batches) without talking to each other.

Shards are read with a minimal safetensors reader (header + ``np.fromfile``), so float16,
bfloat16 and float32 activations are all accepted; rows are converted to float32. Every shard's
header is checked when the view is built (shape and dtype must agree with the first shard's), and
every shard is checked for NaN/Inf when it is read; errors name the shards, image and row.
"""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from jaxconcepts._safetensors import read_tensor, tensor_info  # re-exported

__all__ = ["RowBatch", "RowsView", "read_tensor", "tensor_info"]


def _cast_transposed(raw: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = raw.transpose(0, 2, 1)`` as float32, for a float16/bfloat16/float32 ``raw``
    (every float16 and bfloat16 value is exact in float32: the cast is exact)."""
    out[...] = raw.transpose(0, 2, 1)

_ROW_DTYPES = ("F16", "BF16", "F32")
LABEL_FIELDS = ("pred", "target", "label")


class RowBatch(NamedTuple):
    """One fixed-shape batch of rows (whole images).

    Attributes:
        A: ``(n_img, ch, c)`` float32 rows (zeros for padding images).
        y: ``(n_img,)`` int32 class of each image's rows (0 for padding).
        valid: ``(n_img,)`` bool, False for padding images.
    """

    A: np.ndarray
    y: np.ndarray
    valid: np.ndarray


class RowsView:
    """Stream the rows of an activation store (module docstring).

    Args:
        path: the store directory (``manifest.json`` + safetensors shards).
        labels: which per-image field gives the rows' class: ``pred`` (default), ``target`` or
            ``label``.
        images_per_batch: images per batch (rows per batch = ``images_per_batch · H · W``).
        n_classes: Y (default: ``max(class) + 1`` over the whole store).
        process_index, process_count: this process's subset of shards (default: one process).
        prefetch: batches read ahead on a background thread (0: read in the caller's thread).
        cache_bytes: keep a pass's batches in memory, and serve later passes from there, when
            this process's batches of that pass take at most this many bytes (0: never; every
            pass streams from disk). The cached batches are the streamed ones, read-only, so a
            pass yields the same arrays either way; a pass left early is not kept.
        classes: optional ``(N,)`` int class of every store image (manifest order) replacing the
            ``labels`` field; ``-1`` leaves the image out. This is how a train/test split by
            image, and a remapping of store classes to fitted classes, stream: only this small
            per-image array is held, never the rows.
    """

    def __init__(self, path, *, labels: str = "pred", images_per_batch: int = 64,
                 n_classes: int | None = None, process_index: int = 0, process_count: int = 1,
                 prefetch: int = 2, classes=None, cache_bytes: int = 0):
        self.path = Path(path)
        mpath = self.path / "manifest.json"
        if not mpath.is_file():
            raise FileNotFoundError(f"{str(self.path)!r} is not an activation store "
                                    "(no manifest.json)")
        if labels not in LABEL_FIELDS:
            raise ValueError(f"labels={labels!r}; valid choices: {list(LABEL_FIELDS)}")
        if images_per_batch < 1:
            raise ValueError(f"images_per_batch={images_per_batch} should be >= 1")
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index={process_index} should be in [0, process_count="
                             f"{process_count})")
        manifest = json.loads(mpath.read_text())
        self.files = [self.path / s["file"] for s in manifest["shards"]]
        if not self.files:
            raise ValueError(f"store {str(self.path)!r} has no shards")
        self.labels, self.images_per_batch = labels, int(images_per_batch)
        self.process_index, self.process_count = int(process_index), int(process_count)
        self.prefetch = int(prefetch)
        self.cache_bytes = int(cache_bytes)
        self._cache: dict = {}  # (m, raw) -> one whole pass's [(batch, last)]
        self._check_headers()
        # per-image classes of the whole store: small by nature (one int per image)
        raw = [np.asarray(read_tensor(f, labels), np.int64).reshape(-1) for f in self.files]
        self.keep = [None] * len(self.files)  # per shard: which images stream (None = all)
        if classes is not None:
            classes = np.asarray(classes, np.int64).reshape(-1)
            n_img = sum(len(r) for r in raw)
            if classes.shape != (n_img,):
                raise ValueError(f"classes should have shape (n_images,)=({n_img},), got "
                                 f"{classes.shape}")
            bounds = np.cumsum([0] + [len(r) for r in raw])
            raw = [classes[bounds[i]:bounds[i + 1]] for i in range(len(raw))]
            self.keep = [r >= 0 for r in raw]
            raw = [r[k] for r, k in zip(raw, self.keep)]
        self.shard_labels = raw
        allc = np.concatenate(self.shard_labels)
        if allc.size and allc.min() < 0:
            raise ValueError(f"field {labels!r} has negative classes (min {allc.min()}); "
                             "use labels='pred' for unlabelled stores")
        top = int(allc.max()) + 1 if allc.size else 0
        self.n_classes = top if n_classes is None else int(n_classes)
        if top > self.n_classes:
            raise ValueError(f"classes should lie in [0, n_classes={self.n_classes}), "
                             f"got max {top - 1}")
        self.class_images = np.bincount(allc, minlength=self.n_classes)
        self.local = list(range(self.process_index, len(self.files), self.process_count))
        per_proc = [sum(len(self.shard_labels[i]) for i in range(p, len(self.files),
                                                                 self.process_count))
                    for p in range(self.process_count)]
        self.n_batches = max(-(-n // self.images_per_batch) for n in per_proc)

    def _check_headers(self):
        first = self.files[0]
        shape0, dt0 = tensor_info(first, "activations")
        if len(shape0) != 4:
            raise ValueError(f"shard {first.name!r}: activations should be (B, C, H, W), "
                             f"got shape {shape0}")
        if dt0 not in _ROW_DTYPES:
            raise TypeError(f"shard {first.name!r}: activations dtype {dt0}; expected one of "
                            f"{list(_ROW_DTYPES)}")
        for f in self.files[1:]:
            shape, dt = tensor_info(f, "activations")
            if shape[1:] != shape0[1:] or dt != dt0:
                raise ValueError(
                    f"shards disagree: {first.name!r} has activations (B, C, H, W) = "
                    f"{list(shape0)} {dt0}, {f.name!r} has {list(shape)} {dt}")
        self.channels = int(shape0[1])
        self.rows_per_image = int(shape0[2] * shape0[3])
        self.dtype = dt0

    @property
    def n_rows(self) -> int:
        """Rows of the whole store (every process)."""
        return int(self.class_images.sum()) * self.rows_per_image

    @property
    def class_rows(self) -> np.ndarray:
        """``(Y,)`` rows per class in the whole store (0 for a class with no rows)."""
        return self.class_images * self.rows_per_image

    def _raw_shard(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Shard ``i``'s kept images as stored: ``((n, C, H·W) stored dtype, classes (n,))``."""
        act = read_tensor(self.files[i], "activations", mapped=True)
        if self.keep[i] is not None:
            act = act[self.keep[i]]
        # the spatial size from the stored shape: -1 cannot be inferred for a shard with no kept
        # image (e.g. the α sweep's validation images, all in other shards)
        return (act.reshape(act.shape[0], self.channels, int(np.prod(act.shape[2:]))),
                self.shard_labels[i])

    def _convert(self, i: int, raw: np.ndarray, first: int, out: np.ndarray) -> None:
        """Images ``raw (m, C, H·W)`` (images ``first…`` of shard ``i``) into ``out (m, H·W, C)``
        float32, checked finite.

        A finite sum proves every value finite; only a non-finite sum pays for the full scan
        that names the first bad row."""
        _cast_transposed(raw, out)
        if np.isfinite(out.sum(dtype=np.float32)):
            return
        ok = np.isfinite(out).all(axis=2).reshape(-1)
        if ok.all():  # the float32 sum overflowed; the values are finite
            return
        flat = first * self.rows_per_image + int(np.flatnonzero(~ok)[0])
        img, pos = divmod(flat, self.rows_per_image)
        raise ValueError(
            f"shard {self.files[i].name!r} has NaN/Inf activations: first at row {flat} of the "
            f"shard (image {img}, spatial position {pos})")

    def read_shard(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Shard ``i`` as ``(rows (n_img, ch, c) float32, classes (n_img,))``, checked finite."""
        raw, cls = self._raw_shard(i)
        rows = np.empty((raw.shape[0], self.rows_per_image, self.channels), np.float32)
        self._convert(i, raw, 0, rows)
        return rows, cls

    def _group_batches(self, m: int | None) -> list[int]:
        """Batches of each group of ``m`` consecutive global shards (all shards: ``m=None``),
        the largest count over the processes, so every process runs the same number."""
        n_sh = len(self.files)
        m = n_sh if m is None else m
        out = []
        for g0 in range(0, n_sh, m):
            per = [sum(len(self.shard_labels[i]) for i in range(g0, min(g0 + m, n_sh))
                       if i % self.process_count == p) for p in range(self.process_count)]
            out.append(max(-(-n // self.images_per_batch) for n in per))
        return out

    def _batches(self, stop: threading.Event, m: int | None = None,
                 raw: bool = False) -> Iterator[tuple[RowBatch, bool]]:
        b, ch, c = self.images_per_batch, self.rows_per_image, self.channels
        sdt = read_tensor(self.files[0], "activations", mapped=True).dtype
        shape, dt = ((b, c, ch), sdt) if raw else ((b, ch, c), np.float32)
        counts = self._group_batches(m)
        span = len(self.files) if m is None else m
        for g, n_g in enumerate(counts):
            A, y = np.zeros(shape, dt), np.zeros((b,), np.int32)
            fill, emitted = 0, 0
            for i in range(g * span + self.process_index, min((g + 1) * span, len(self.files)),
                           self.process_count):
                act, cls = self._raw_shard(i)
                start = 0
                while start < len(act):
                    if stop.is_set():
                        return
                    k = min(b - fill, len(act) - start)
                    if raw:
                        A[fill:fill + k] = act[start:start + k]
                    else:
                        self._convert(i, act[start:start + k], start, A[fill:fill + k])
                    y[fill:fill + k] = cls[start:start + k]
                    fill, start = fill + k, start + k
                    if fill == b:
                        emitted += 1
                        yield RowBatch(A, y, np.ones((b,), bool)), emitted == n_g
                        A, y = np.empty(shape, dt), np.zeros((b,), np.int32)
                        fill = 0
            if fill:
                A[fill:] = 0
                emitted += 1
                yield RowBatch(A, y, np.arange(b) < fill), emitted == n_g
            while emitted < n_g:  # keep every process in step
                emitted += 1
                yield (RowBatch(np.zeros(shape, dt), np.zeros((b,), np.int32),
                                np.zeros((b,), bool)), emitted == n_g)

    def __iter__(self) -> Iterator[RowBatch]:
        """One pass: exactly :attr:`n_batches` batches of this process's shards, in order."""
        for batch, _ in self._prefetched(None, False):
            yield batch

    def groups(self, shards_per_group: int, *, raw: bool = False
               ) -> Iterator[tuple[RowBatch, bool]]:
        """One pass in groups of ``shards_per_group`` consecutive shards of the global manifest:
        yields ``(batch, last)``, ``last`` on a group's final batch. A group's rows are the same
        whatever the number of processes (each reads its own shards of it; batches never span
        two groups; every process yields the same number of batches per group), which is what
        an online solver updating once per group needs to be process-count invariant.

        ``raw``: ``A`` in the stored dtype and layout ``(n_img, c, ch)``, not converted and
        **not checked finite** (the caller checks, e.g. from a sum of squares on the device, and
        iterates the view normally to name the bad shard and row)."""
        if shards_per_group < 1:
            raise ValueError(f"shards_per_group={shards_per_group} should be >= 1")
        return self._prefetched(int(shards_per_group), bool(raw))

    def pass_bytes(self, m: int | None = None, raw: bool = False) -> int:
        """Bytes of this process's batches in one pass (groups of ``m`` shards; ``raw``: the
        stored dtype): what :attr:`cache_bytes` is compared with."""
        item = np.dtype(read_tensor(self.files[0], "activations", mapped=True).dtype).itemsize \
            if raw else 4
        return (sum(self._group_batches(m)) * self.images_per_batch * self.rows_per_image
                * self.channels * item)

    def _prefetched(self, m, raw) -> Iterator[tuple[RowBatch, bool]]:
        key = (m, bool(raw))
        if key in self._cache:
            yield from self._cache[key]
            return
        kept = [] if 0 < self.pass_bytes(m, raw) <= self.cache_bytes else None
        for batch, last in self._streamed(m, raw):
            if kept is not None:
                for a in batch:
                    a.flags.writeable = False
                kept.append((batch, last))
            yield batch, last
        if kept is not None:
            self._cache[key] = kept

    def _streamed(self, m, raw) -> Iterator[tuple[RowBatch, bool]]:
        stop = threading.Event()
        if self.prefetch <= 0:
            yield from self._batches(stop, m, raw)
            return
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        done = object()

        def work():
            try:
                for item in self._batches(stop, m, raw):
                    while not stop.is_set():
                        try:
                            q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                q.put(done)
            except BaseException as e:  # re-raised in the consumer
                q.put(e)

        t = threading.Thread(target=work, name="rows-prefetch", daemon=True)
        t.start()
        try:
            while True:
                item = q.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            t.join(timeout=5)

    def sample_rows(self, n_per_class: int, *, seed) -> np.ndarray:
        """``(Y, n_per_class, c)`` float32 rows: for every class with rows, ``n_per_class``
        images drawn by ``seed`` (a NumPy seed: an int or a sequence of ints; with
        replacement when the class has fewer) and one spatial
        position of each, read by memory map (only those rows). Zeros for a class without rows.
        The same on every process (global shard list)."""
        rng = np.random.default_rng(seed)
        out = np.zeros((self.n_classes, n_per_class, self.channels), np.float32)
        where = [(i, j) for i, lab in enumerate(self.shard_labels) for j in range(len(lab))]
        labels = np.concatenate(self.shard_labels)
        for y in np.flatnonzero(self.class_images):
            imgs = np.flatnonzero(labels == y)
            pick = rng.choice(imgs, n_per_class, replace=len(imgs) < n_per_class)
            pos = rng.integers(0, self.rows_per_image, n_per_class)
            for r, (g, p) in enumerate(zip(pick, pos)):
                i, j = where[g]
                if self.keep[i] is not None:  # the j-th kept image of shard i
                    j = int(np.flatnonzero(self.keep[i])[j])
                act = read_tensor(self.files[i], "activations", mapped=True)
                out[y, r] = np.asarray(act[j].reshape(self.channels, -1)[:, p], np.float32)
        if not np.isfinite(out).all():
            raise ValueError("sampled rows have NaN/Inf activations; iterate the view to find "
                             "the shard and row")
        return out

    def sample(self, n_rows: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n_rows`` rows (and classes) from whole shards picked by ``seed``.

        The same on every process (it reads from the global shard list), so a fit initialised
        from it does not depend on the number of processes."""
        order = np.random.default_rng(seed).permutation(len(self.files))
        got, cls, n = [], [], 0
        for i in order:
            rows, c = self.read_shard(int(i))
            got.append(rows.reshape(-1, self.channels))
            cls.append(np.repeat(c, self.rows_per_image))
            n += got[-1].shape[0]
            if n >= n_rows:
                break
        return np.concatenate(got)[:n_rows], np.concatenate(cls)[:n_rows].astype(np.int32)
