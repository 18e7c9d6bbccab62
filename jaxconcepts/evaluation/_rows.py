"""The activation-rows view of a store for the C2MF suite: per-image row blocks, the split by image.

An image's activation map ``(c, h, w)`` is the ``(p, c)`` block of rows (``p = h·w``) the C2MF
methods factorise. :class:`RowsView` streams these blocks from the store (through
:class:`jaxconcepts.features.RowsView`, shard by shard with prefetch) as fixed-size batches of
images, so every fit and every evaluation accumulates over batches and never holds all rows. Only
per-image scalars are held (:class:`ImageRows`: class, label, prediction, index).

The class of an image is the store's ``target``, ``pred`` or ``label`` (falling back to the
prediction for unlabelled images). Images are split train/test per class by image (seeded);
classes with fewer than ``min_images`` images are reported and left out. Kept classes are remapped
to ``0..Y-1``; :attr:`Split.classes` keeps the mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from jaxconcepts._checks import check_choice

__all__ = ["LABELS", "ImageRows", "Split", "RowsView", "TestBatch", "fitted_classes",
           "load_image_rows", "split_by_image", "k_caps"]

LABELS = ("target", "pred", "label")


class ImageRows(NamedTuple):
    """Per-image scalars of the store (N images; the rows themselves stay on disk)."""

    cls: np.ndarray  # (N,) class of each image (store class space)
    label: np.ndarray  # (N,) -1 = unknown
    pred: np.ndarray  # (N,)
    index: np.ndarray  # (N,) store image ids


class Split(NamedTuple):
    """Train/test split by image; ``classes[j]`` is the store class fitted as class ``j``."""

    train: np.ndarray  # image positions
    test: np.ndarray
    classes: np.ndarray  # (Y,) kept store classes, sorted
    remap: dict  # store class -> 0..Y-1
    too_small: list  # [(store class, n_images)]


class TestBatch(NamedTuple):
    """A batch of test images padded to a fixed size ``B`` (the first ``n`` are real)."""

    A: np.ndarray  # (B, p, c)
    y: np.ndarray  # (B,) fitted class (gate / dictionary used)
    label: np.ndarray  # (B,) -1 unknown
    pred: np.ndarray  # (B,) the classifier's own prediction
    target: np.ndarray  # (B,) store class explained (insertion/deletion)
    n: int


def fitted_classes(split: Split, cls) -> np.ndarray:
    """Store classes → the fitted class ids ``0..Y-1`` (every class must be kept)."""
    return np.array([split.remap[int(c)] for c in np.asarray(cls)], np.int64)


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """Pad the leading axis to ``size`` by repeating the first entry (results are sliced off)."""
    if a.shape[0] == size:
        return a
    return np.concatenate([a, np.repeat(a[:1], size - a.shape[0], axis=0)])


class RowsView:
    """Train and test images of one split, streamed from the store as batches of row blocks.

    Args:
        store: the :class:`~jaxconcepts.features.ActivationStore`; data: its per-image scalars;
        split: the split by image.
        prefetch: batches read ahead on a background thread.
    """

    def __init__(self, store, data: ImageRows, split: Split, *, prefetch: int = 2):
        self.store, self.data, self.split = store, data, split
        C, H, W = store.shape
        self.p, self.c = H * W, C
        self.prefetch = int(prefetch)
        self.y_img_train = fitted_classes(split, data.cls[split.train])
        self.y_img_test = fitted_classes(split, data.cls[split.test])

    @property
    def n_classes(self) -> int:
        return int(self.split.classes.size)

    def rows_per_class(self) -> np.ndarray:
        """``(Y,)`` train rows of each fitted class."""
        return np.bincount(self.y_img_train, minlength=self.n_classes) * self.p

    def _classes(self, positions, y) -> np.ndarray:
        cls = -np.ones(len(self.data.cls), np.int64)
        cls[positions] = y
        return cls

    def stream(self, part: str, images_per_batch: int, *, crops=None):
        """A :class:`jaxconcepts.features.RowsView` over the ``train`` or ``test`` images with
        their fitted classes (what the streamed fits take); process-aware via JAX.

        ``crops``: a crop store's folder (the ``crops`` stage's) to stream the images' crop rows
        (one row per crop) instead of their spatial rows; it must hold this store's images in
        order (checked)."""
        import jax

        from jaxconcepts.features import RowsView as StoreRows

        check_choice("part", part, ("train", "test"))
        pos, y = ((self.split.train, self.y_img_train) if part == "train"
                  else (self.split.test, self.y_img_test))
        path = self.store.path
        if crops is not None:
            from jaxconcepts.features._crop_store import read_crop_store

            read_crop_store(crops, check_index=self.data.index)
            path = crops
        return StoreRows(path, images_per_batch=int(images_per_batch),
                         n_classes=self.n_classes, classes=self._classes(pos, y),
                         process_index=jax.process_index(), process_count=jax.process_count(),
                         prefetch=self.prefetch)

    def _blocks(self, positions, batch_images: int):
        """``(positions (m,), A (m, p, c))`` for sorted image ``positions``, streamed in order."""
        marks = self._classes(positions, 0)
        from jaxconcepts.features import RowsView as StoreRows

        rows = StoreRows(self.store.path, images_per_batch=int(batch_images),
                         n_classes=1, classes=marks, prefetch=self.prefetch)
        s = 0
        for b in rows:
            n = int(b.valid.sum())
            if n:
                yield positions[s:s + n], b.A[:n]
                s += n

    def rows(self, positions, batch_images: int = 64) -> np.ndarray:
        """``(m, p, c)`` row blocks of the given image positions, in memory (small subsets only:
        the atlas' images, the α sweep)."""
        positions = np.sort(np.asarray(positions, np.int64))
        out = np.zeros((positions.size, self.p, self.c), np.float32)
        s = 0
        for _, A in self._blocks(positions, batch_images):
            out[s:s + len(A)] = A
            s += len(A)
        return out

    def train_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """``(n_train·p, c)`` train rows and their fitted classes, in memory (the α sweep only;
        the stage's fits stream)."""
        A = self.rows(self.split.train).reshape(-1, self.c)
        return A, np.repeat(self.y_img_train, self.p)

    def train_batches(self, batch_images: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(A (m·p, c), y (m·p,))`` for ``m <= batch_images`` train images at a time."""
        s = 0
        for pos, A in self._blocks(self.split.train, batch_images):
            m = len(pos)
            yield A.reshape(-1, self.c), np.repeat(self.y_img_train[s:s + m], self.p)
            s += m

    def test_batches(self, batch_images: int) -> Iterator[TestBatch]:
        """Test images ``batch_images`` at a time, each batch padded to that size."""
        te, d = self.split.test, self.data
        s = 0
        for idx, A in self._blocks(te, batch_images):
            n = idx.size
            yield TestBatch(_pad(A, batch_images),
                            _pad(self.y_img_test[s:s + n], batch_images),
                            _pad(d.label[idx], batch_images), _pad(d.pred[idx], batch_images),
                            _pad(d.cls[idx], batch_images), n)
            s += n


def load_image_rows(store, *, labels: str) -> ImageRows:
    """Each image's class (``labels``: the store's ``target``, ``pred``, or ``label`` falling back
    to the prediction), label, prediction and index; small by nature (one scalar per image).

    Raises:
        ValueError: ``labels`` not one of :data:`LABELS`.
    """
    check_choice("c2mf.labels", labels, LABELS)
    cat = {f: np.asarray(store.read(f, dtype=None)).astype(np.int64)
           for f in ("target", "label", "pred", "index")}
    if labels == "label":
        cls = np.where(cat["label"] >= 0, cat["label"], cat["pred"])
    else:
        cls = cat[labels]
    return ImageRows(cls.astype(np.int64), cat["label"], cat["pred"], cat["index"])


def split_by_image(cls, *, test_fraction: float, min_images: int, seed: int) -> Split:
    """Seeded per-class split by image; classes with fewer than ``min_images`` images are set aside.

    Every kept class gets ``max(1, round(test_fraction · n))`` test images and at least one train
    image.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"c2mf.test_fraction={test_fraction} should be in (0, 1)")
    if min_images < 2:
        raise ValueError(f"c2mf.min_images={min_images} should be >= 2 (one train + one test "
                         "image)")
    cls = np.asarray(cls)
    rng = np.random.default_rng(seed)
    train, test, kept, small = [], [], [], []
    for c in np.unique(cls):
        idx = np.flatnonzero(cls == c)
        if idx.size < min_images:
            small.append((int(c), int(idx.size)))
            continue
        idx = rng.permutation(idx)
        n_test = min(max(1, int(round(test_fraction * idx.size))), idx.size - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
        kept.append(int(c))
    cat = lambda v: np.sort(np.concatenate(v)) if v else np.zeros(0, np.int64)  # noqa: E731
    classes = np.asarray(kept, np.int64)
    return Split(cat(train), cat(test), classes, {c: j for j, c in enumerate(kept)}, small)


def k_caps(rows_per_class: np.ndarray, n_channels: int,
           craft_rows_per_class: np.ndarray | None = None) -> dict[str, int]:
    """Largest k each method supports: C2MF ``min(n, c)``, CRAFT ``min(min_y m_y, c)``, PCA
    ``min(min_y n_y − 1, c)`` (n_y = train rows of class y; m_y = CRAFT's rows, its crops, default
    n_y)."""
    n_min = int(rows_per_class.min()) if rows_per_class.size else 0
    cr = rows_per_class if craft_rows_per_class is None else craft_rows_per_class
    m_min = int(cr.min()) if cr.size else 0
    return {"c2mf": min(int(rows_per_class.sum()), n_channels),
            "craft": min(m_min, n_channels),
            "pca": min(n_min - 1, n_channels)}
