"""The activation-rows view of a store for the C2MF suite: per-image row blocks, the split by image.

An image's activation map ``(c, h, w)`` is the ``(p, c)`` block of rows (``p = h·w``) the C2MF
methods factorise. :class:`RowsView` hands these blocks out as fixed-size batches of images, so
every evaluation accumulates over an iterable of batches and never needs all rows at once (the scale
issue plugs a streamed store reader in here). Fitting still takes the train rows in memory
(:meth:`RowsView.train_rows`) until the streamed fits land.

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
           "load_image_rows", "load_crops", "split_by_image", "k_caps"]

LABELS = ("target", "pred", "label")


class ImageRows(NamedTuple):
    """The store as per-image row blocks (N images, p = H·W positions, c channels)."""

    A: np.ndarray  # (N, p, c) float32
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
    """Train and test images of one split as batches of row blocks.

    Args:
        data: the store's row blocks; split: the split by image.
    """

    def __init__(self, data: ImageRows, split: Split):
        self.data, self.split = data, split
        self.p, self.c = data.A.shape[1:]
        self.y_img_train = fitted_classes(split, data.cls[split.train])
        self.y_img_test = fitted_classes(split, data.cls[split.test])

    @property
    def n_classes(self) -> int:
        return int(self.split.classes.size)

    def rows_per_class(self) -> np.ndarray:
        """``(Y,)`` train rows of each fitted class."""
        return np.bincount(self.y_img_train, minlength=self.n_classes) * self.p

    def train_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """``(n_train·p, c)`` train rows and their fitted classes, in memory (for the fits)."""
        A = self.data.A[self.split.train].reshape(-1, self.c)
        return A, np.repeat(self.y_img_train, self.p)

    def train_batches(self, batch_images: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(A (m·p, c), y (m·p,))`` for ``m <= batch_images`` train images at a time."""
        tr = self.split.train
        for s in range(0, tr.size, batch_images):
            sl = slice(s, s + batch_images)
            A = self.data.A[tr[sl]]
            yield A.reshape(-1, self.c), np.repeat(self.y_img_train[sl], self.p)

    def test_batches(self, batch_images: int) -> Iterator[TestBatch]:
        """Test images ``batch_images`` at a time, each batch padded to that size."""
        te, d = self.split.test, self.data
        for s in range(0, te.size, batch_images):
            idx = te[s:s + batch_images]
            n = idx.size
            yield TestBatch(_pad(d.A[idx], batch_images),
                            _pad(self.y_img_test[s:s + batch_images], batch_images),
                            _pad(d.label[idx], batch_images), _pad(d.pred[idx], batch_images),
                            _pad(d.cls[idx], batch_images), n)


def load_image_rows(store, *, labels: str, batch_size: int = 64) -> ImageRows:
    """Stream the store into ``(N, H·W, C)`` row blocks and pick each image's class.

    Raises:
        ValueError: ``labels`` not one of :data:`LABELS`; NaN/inf in the store (names the image).
    """
    check_choice("c2mf.labels", labels, LABELS)
    C, H, W = store.shape
    A = np.zeros((len(store), H * W, C), np.float32)
    fields = ("activations", "target", "label", "pred", "index")
    out = {f: [] for f in fields[1:]}
    i = 0
    for b in store.iter_batches(batch_size, fields=fields, as_jax=False):
        n = b["activations"].shape[0]
        A[i:i + n] = b["activations"].transpose(0, 2, 3, 1).reshape(n, H * W, C)
        for f in fields[1:]:
            out[f].append(b[f])
        i += n
    cat = {f: np.concatenate(v) if v else np.zeros(0, np.int32) for f, v in out.items()}
    if labels == "label":
        cls = np.where(cat["label"] >= 0, cat["label"], cat["pred"])
    else:
        cls = cat[labels]
    if not np.all(np.isfinite(A)):
        bad = int(np.flatnonzero(~np.isfinite(A).all(axis=(1, 2)))[0])
        raise ValueError("the activation store holds NaN/inf (first in image "
                         f"{int(cat['index'][bad])})")
    return ImageRows(A, cls.astype(np.int64), cat["label"], cat["pred"], cat["index"])


def load_crops(path: str | Path, index: np.ndarray) -> np.ndarray:
    """``(N, n_crops, C)`` crop activations (the ``crops`` stage's file) of store images ``index``.

    Raises:
        ValueError: the file lacks some of the images (stale crops) or holds NaN/inf.
    """
    from jaxconcepts._io import load_arrays

    a = load_arrays(path)
    pos = {int(i): j for j, i in enumerate(a["index"])}
    missing = [int(i) for i in index if int(i) not in pos]
    if missing:
        raise ValueError(f"{path} lacks images {missing[:5]} of the store (stale crops): re-run "
                         "the crops stage")
    crops = a["crops"][[pos[int(i)] for i in index]]
    if not np.all(np.isfinite(crops)):
        raise ValueError(f"{path} holds NaN/inf")
    return crops


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
