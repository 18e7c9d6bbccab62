"""The crop store: CRAFT's crop rows in the layout of an activation store (torch-free).

The ``crops`` stage (:mod:`jaxconcepts.features._crops`) writes, per image of an activation store,
g of ``n_crops`` random crops averaged over space. They are kept as an activation store whose
"spatial positions" are the crops: shards of ``activations (B, C, n_crops, 1)`` float32 with the
images' ``index``, ``pred``, ``target``, ``label`` and the crop ``boxes (B, n_crops, 4)``, and a
``manifest.json`` with ``kind: crops``. So the crops stream through
:class:`~jaxconcepts.store.RowsView` (one row per crop, the image's class) like any store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["CROP_FIELDS", "CropStoreWriter", "write_crop_store", "read_crop_store",
           "read_crop_boxes"]

CROP_FIELDS = ("index", "pred", "target", "label")  # per image, copied from the activation store


class CropStoreWriter:
    """Write a crop store shard by shard into a temporary folder; it replaces ``path`` only when
    :meth:`finish` ran and the block exits without an exception (use as a context manager)."""

    def __init__(self, path, *, n_crops: int, channels: int, shard_size: int = 256):
        from jaxconcepts._io import atomic_dir

        if shard_size < 1:
            raise ValueError(f"shard_size={shard_size} should be >= 1")
        self.path, self.n_crops, self.channels = Path(path), int(n_crops), int(channels)
        self.shard_size = int(shard_size)
        self._ctx = atomic_dir(self.path)
        self._buf: list[dict[str, np.ndarray]] = []
        self._n = 0
        self.shards: list[dict] = []

    def __enter__(self) -> "CropStoreWriter":
        self._tmp = self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)

    def add(self, crops: np.ndarray, boxes: np.ndarray, **fields: np.ndarray) -> None:
        """Rows of images: ``crops (b, n_crops, C)``, ``boxes (b, n_crops, 4)`` and every field of
        :data:`CROP_FIELDS` ``(b,)``."""
        crops = np.asarray(crops, np.float32)
        if crops.ndim != 3 or crops.shape[1:] != (self.n_crops, self.channels):
            raise ValueError(f"crops should be (b, n_crops={self.n_crops}, C={self.channels}), "
                             f"got {crops.shape}")
        missing = set(CROP_FIELDS) - set(fields)
        if missing:
            raise ValueError(f"missing per-image fields {sorted(missing)}")
        self._buf.append({"activations": crops.transpose(0, 2, 1)[..., None],
                          "boxes": np.asarray(boxes, np.int32),
                          **{k: np.asarray(fields[k], np.int32) for k in CROP_FIELDS}})
        self._n += len(crops)
        while self._n >= self.shard_size:
            self._flush(self.shard_size)

    def _flush(self, n: int) -> None:
        from jaxconcepts.store._activations import write_shard

        cat = {k: np.concatenate([b[k] for b in self._buf]) for k in self._buf[0]}
        name = f"shard-{len(self.shards):05d}.safetensors"
        sha = write_shard(self._tmp / name, {k: np.ascontiguousarray(v[:n]) for k, v in
                                             cat.items()})
        self.shards.append({"file": name, "rows": int(n), "sha256": sha})
        self._buf = [{k: v[n:] for k, v in cat.items()}]
        self._n -= n

    def finish(self, meta: dict) -> dict:
        """Flush the last shard and write ``manifest.json`` (``meta`` plus the shard list)."""
        from jaxconcepts._io import write_json

        if self._n:
            self._flush(self._n)
        manifest = dict(meta, kind="crops", n_images=sum(s["rows"] for s in self.shards),
                        n_crops=self.n_crops, channels=self.channels, shards=self.shards)
        write_json(self._tmp / "manifest.json", manifest)
        return manifest


def write_crop_store(path, crops: np.ndarray, *, boxes: np.ndarray | None = None,
                     shard_size: int = 256, meta: dict | None = None, **fields) -> dict:
    """A crop store from in-memory ``crops (N, n_crops, C)`` (tests, small tools)."""
    crops = np.asarray(crops, np.float32)
    boxes = np.zeros(crops.shape[:2] + (4,), np.int32) if boxes is None else boxes
    with CropStoreWriter(path, n_crops=crops.shape[1], channels=crops.shape[2],
                         shard_size=shard_size) as w:
        w.add(crops, boxes, **fields)
        return w.finish(meta or {})


def read_crop_store(path, *, check_index=None) -> dict:
    """A crop store's manifest, checked: it is a crop store and, with ``check_index`` (the
    activation store's image ids in manifest order), it has exactly those images in that order.

    Raises:
        FileNotFoundError: no crop store at ``path``. ValueError: stale crops (other images).
    """
    import json

    from jaxconcepts.store._activations import read_shard

    m = Path(path) / "manifest.json"
    if not m.is_file():
        raise FileNotFoundError(f"no crop store at {str(path)!r} (no manifest.json): run the "
                                "crops stage")
    manifest = json.loads(m.read_text())
    if manifest.get("kind") != "crops":
        raise ValueError(f"{str(path)!r} is not a crop store (manifest kind "
                         f"{manifest.get('kind')!r})")
    if check_index is not None:
        have = np.concatenate([read_shard(Path(path) / s["file"], ["index"])["index"]
                               for s in manifest["shards"]])
        want = np.asarray(check_index)
        if have.shape != want.shape or not np.array_equal(have, want):
            lost = np.setdiff1d(want, have)
            raise ValueError(f"the crop store {str(path)!r} does not hold the activation store's "
                             f"images in order (missing ids {lost[:5].tolist()}): stale crops, "
                             "rerun the crops stage")
    return manifest


def read_crop_boxes(path) -> np.ndarray:
    """``(N, n_crops, 4)`` int boxes ``(top, left, height, width)`` of every crop, in input pixels
    and the store's image order; only the ``boxes`` tensor of each shard is read (a few bytes per
    crop), never the crops' activations.

    Raises:
        FileNotFoundError / ValueError: as :func:`read_crop_store`.
    """
    from jaxconcepts.store._activations import read_shard

    manifest = read_crop_store(path)
    return np.concatenate([read_shard(Path(path) / s["file"], ["boxes"])["boxes"]
                           for s in manifest["shards"]])
