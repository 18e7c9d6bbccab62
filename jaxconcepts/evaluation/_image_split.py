"""The activation-rows view of a store for the C2MF suite: per-image row blocks, the split by image.

An image's activation map ``(c, h, w)`` is the ``(p, c)`` block of rows (``p = h·w``) the C2MF
methods factorise. :class:`SplitRowsView` streams these blocks from the store (through
:class:`jaxconcepts.store.RowsView`, shard by shard with prefetch) as fixed-size batches of
images, so every fit and every evaluation accumulates over batches and never holds all rows. Only
per-image scalars are held (:class:`ImageRows`: class, label, prediction, index).

The class of an image is the store's ``target``, ``pred`` or ``label`` (falling back to the
prediction for unlabelled images). Images are split train/test per class by image (seeded);
classes with fewer than ``min_images`` images are reported and left out. Kept classes are remapped
to ``0..Y-1``; :attr:`Split.classes` keeps the mapping.

Two vocabularies, kept apart (:class:`ImageRows`): the **C2MF classes** (``cls``: what the gates,
the per-class split, the per-class metrics and the recipes are per) and the **head's outputs**
(``pred``, ``target``, ``head_label``: what Grad-CAM, IG, insertion/deletion and the reconstructed
predictions read). With ``labels: label`` on a folder whose classes are not the head's outputs
(4 folders under a 1000-way ImageNet head, ``space == "folder"``) the C2MF classes are the folders
and the explained output is the head's own prediction; otherwise (``space == "head"``) a class is a
head output and is explained as itself.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

from jaxconcepts._checks import check_choice
from jaxconcepts.store import labels_are_head_outputs as _labels_on_head

__all__ = ["LABELS", "ImageRows", "Split", "SplitRowsView", "TestBatch", "fitted_classes",
           "load_image_rows", "split_by_image", "check_label_classes", "k_caps",
           "store_head_outputs"]

LABELS = ("target", "pred", "label")


class ImageRows(NamedTuple):
    """Per-image scalars of the store (N images; the rows themselves stay on disk).

    ``cls`` is in the C2MF classes' vocabulary (``space``: ``"head"`` when a class is a head
    output, ``"folder"`` when it indexes the manifest's ``class_names`` and is not); ``pred``,
    ``target`` and ``head_label`` are always head outputs (module docstring)."""

    cls: np.ndarray  # (N,) C2MF class of each image (store class space)
    label: np.ndarray  # (N,) the store's label (folder class), -1 = unknown
    pred: np.ndarray  # (N,) the head's prediction
    index: np.ndarray  # (N,) store image ids
    target: np.ndarray | None = None  # (N,) head output explained (default: cls)
    head_label: np.ndarray | None = None  # (N,) label as a head output, -1 unknown/not one
    space: str = "head"  # "head" | "folder": the vocabulary of cls


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
    label: np.ndarray  # (B,) ground truth as a head output; -1 unknown or not a head output
    pred: np.ndarray  # (B,) the classifier's own prediction (a head output)
    target: np.ndarray  # (B,) head output explained (insertion/deletion)
    n: int


def fitted_classes(split: Split, cls) -> np.ndarray:
    """Store classes → the fitted class ids ``0..Y-1`` (every class must be kept)."""
    return np.array([split.remap[int(c)] for c in np.asarray(cls)], np.int64)


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """Pad the leading axis to ``size`` by repeating the first entry (results are sliced off)."""
    if a.shape[0] == size:
        return a
    return np.concatenate([a, np.repeat(a[:1], size - a.shape[0], axis=0)])


class SplitRowsView:
    """Train and test images of one split, streamed from the store as batches of row blocks
    (each stream is a :class:`jaxconcepts.store.RowsView`, which knows no split).

    Args:
        store: the :class:`~jaxconcepts.store.ActivationStore`; data: its per-image scalars;
        split: the split by image.
        prefetch: batches read ahead on a background thread.
        cache_bytes: each streamed view (the train rows, the test rows, the crops' rows) keeps
            its batches in memory after its first whole pass when they take at most this many
            bytes, so the solvers' later passes and the evaluations do not read and convert the
            shards again (``store.RowsView``'s ``cache_bytes``; 0: stream every pass). The
            views are made once per (part, batch size, crops) and reused.
    """

    def __init__(self, store, data: ImageRows, split: Split, *, prefetch: int = 2,
                 cache_bytes: int = 0):
        self.store, self.data, self.split = store, data, split
        C, H, W = store.shape
        self.p, self.c = H * W, C
        self.prefetch = int(prefetch)
        self.cache_bytes = int(cache_bytes)
        self._views: dict = {}
        self.y_img_train = fitted_classes(split, data.cls[split.train])
        self.y_img_test = fitted_classes(split, data.cls[split.test])

    @property
    def n_classes(self) -> int:
        return int(self.split.classes.size)

    def head_outputs(self) -> np.ndarray:
        """``(Y,)`` the head output that explains each fitted class (CRAFT's Sobol logit): the
        class itself when the C2MF classes are head outputs, else the prediction most of the
        class's train images get (ties: the lower output)."""
        if self.data.space == "head":
            return np.asarray(self.split.classes, np.int64)
        pred = self.data.pred[self.split.train]
        return np.array([np.bincount(pred[self.y_img_train == j]).argmax()
                         for j in range(self.n_classes)], np.int64)

    def rows_per_class(self) -> np.ndarray:
        """``(Y,)`` train rows of each fitted class."""
        return np.bincount(self.y_img_train, minlength=self.n_classes) * self.p

    def _classes(self, positions, y) -> np.ndarray:
        cls = -np.ones(len(self.data.cls), np.int64)
        cls[positions] = y
        return cls

    def stream(self, part: str, images_per_batch: int, *, crops=None):
        """A :class:`jaxconcepts.store.RowsView` over the ``train`` or ``test`` images with
        their fitted classes (what the streamed fits take); process-aware via JAX.

        ``crops``: a crop store's folder (the ``crops`` stage's) to stream the images' crop rows
        (one row per crop) instead of their spatial rows; it must hold this store's images in
        order (checked)."""
        import jax

        from jaxconcepts.store import RowsView as StoreRows

        check_choice("part", part, ("train", "test"))
        key = ("stream", part, int(images_per_batch), None if crops is None else str(crops))
        if key in self._views:
            return self._views[key]
        pos, y = ((self.split.train, self.y_img_train) if part == "train"
                  else (self.split.test, self.y_img_test))
        path = self.store.path
        if crops is not None:
            from jaxconcepts.store import read_crop_store

            read_crop_store(crops, check_index=self.data.index)
            path = crops
        view = self._views[key] = StoreRows(
            path, images_per_batch=int(images_per_batch), n_classes=self.n_classes,
            classes=self._classes(pos, y), process_index=jax.process_index(),
            process_count=jax.process_count(), prefetch=self.prefetch,
            cache_bytes=self.cache_bytes)
        return view

    def _blocks(self, positions, batch_images: int):
        """``(positions (m,), A (m, p, c))`` for sorted image ``positions``, streamed in order."""
        key = ("blocks", np.asarray(positions, np.int64).tobytes(), int(batch_images))
        rows = self._views.get(key)
        if rows is None:
            from jaxconcepts.store import RowsView as StoreRows

            rows = self._views[key] = StoreRows(
                self.store.path, images_per_batch=int(batch_images), n_classes=1,
                classes=self._classes(positions, 0), prefetch=self.prefetch,
                cache_bytes=self.cache_bytes)
        s = 0
        for b in rows:
            n = int(b.valid.sum())
            if n:
                yield positions[s:s + n], b.A[:n]
                s += n

    def blocks(self, positions, batch_images: int = 64):
        """``(positions (m,), A (m, p, c))`` for sorted image ``positions``, streamed in order
        (memory: a few batches)."""
        return self._blocks(np.sort(np.asarray(positions, np.int64)), batch_images)

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
        target = d.cls if d.target is None else d.target
        label = d.label if d.head_label is None else d.head_label
        s = 0
        for idx, A in self._blocks(te, batch_images):
            n = idx.size
            yield TestBatch(_pad(A, batch_images),
                            _pad(self.y_img_test[s:s + n], batch_images),
                            _pad(label[idx], batch_images), _pad(d.pred[idx], batch_images),
                            _pad(target[idx], batch_images), n)
            s += n


def store_head_outputs(store) -> int | None:
    """K, the head's number of outputs, from the manifest (or the GAP + linear head record)."""
    k = (store.manifest.get("head") or {}).get("num_classes")
    if k is None and store.head is not None:
        k = np.shape(store.head.weight)[0]
    return None if k is None else int(k)


def load_image_rows(store, *, labels: str) -> ImageRows:
    """Each image's C2MF class (``labels``: the store's ``target``, ``pred``, or ``label`` falling
    back to the prediction for unlabelled images), label, prediction, index, the head output it is
    explained by, and the vocabulary of its class (:class:`ImageRows`, module docstring); small by
    nature (one scalar per image). Cheap, so the stage calls it before any fit.

    Raises:
        ValueError: ``labels`` not one of :data:`LABELS`; or a combination of ``labels`` and store
            that has no well-defined classes, naming the param to change: ``label`` on a store
            without labels (a flat folder); ``label`` on a partly labelled store whose folder
            classes are not head outputs (the fallback, a prediction, would be read as a folder
            class); ``target`` on a store whose targets are folder labels that are not head
            outputs (``extract.use_label_as_target: true``).
    """
    check_choice("c2mf.labels", labels, LABELS)
    cat = {f: np.asarray(store.read(f, dtype=None)).astype(np.int64)
           for f in ("target", "label", "pred", "index")}
    man = store.manifest
    names = man.get("class_names")
    K = store_head_outputs(store)
    on_head = K is None or _labels_on_head(K, names)
    has_label = cat["label"] >= 0
    n, n_lab = has_label.size, int(has_label.sum())
    folder = (f"its {len(names or [])} folder classes are not the head's {K} outputs "
              "(the label of an image is its folder's index, not a head output)")
    if labels == "label" and n and n_lab == 0:
        raise ValueError(
            f"c2mf.labels='label' but no image of this store has a label (a flat folder, "
            f"{n} images): set c2mf.labels: pred (the head's predicted classes), or extract a "
            "<class>/<image> folder")
    if labels == "label" and not on_head and n_lab < n:
        raise ValueError(
            f"c2mf.labels='label': {n - n_lab} of {n} images have no label and {folder}, so "
            "their fallback class (the prediction) has no folder class: put every image in a "
            "class folder, or set c2mf.labels: pred")
    if (labels == "target" and not on_head and man.get("use_label_as_target")
            and n_lab):
        raise ValueError(
            f"c2mf.labels='target': this store's targets are its folder labels "
            f"(extract.use_label_as_target: true) and {folder}: set c2mf.labels: label (the "
            "folder classes) or pred")
    head_label = np.where(has_label, cat["label"], -1) if on_head else np.full(n, -1, np.int64)
    if labels == "label":
        cls = np.where(has_label, cat["label"], cat["pred"])
    else:
        cls = cat[labels]
    space = "head" if on_head or labels != "label" else "folder"
    target = cls if space == "head" else cat["pred"]
    return ImageRows(cls.astype(np.int64), cat["label"], cat["pred"], cat["index"],
                     target.astype(np.int64), head_label.astype(np.int64), space)


def check_label_classes(data: ImageRows, split: Split, *, min_images: int,
                        names=None) -> None:
    """With folder labels as C2MF's classes, every labelled class must be split (a folder is a
    class the user asked for): raise before any fit when one has fewer than ``min_images``.

    Args:
        data: :func:`load_image_rows` with ``labels: label``; split: its :func:`split_by_image`;
        names: the manifest's ``class_names`` (for the message).

    Raises:
        ValueError: a labelled class with too few images, naming ``c2mf.min_images``.
    """
    labelled = set(np.unique(data.label[data.label >= 0]).tolist())
    small = [(c, k) for c, k in split.too_small if c in labelled]
    if not small:
        return
    nm = (lambda c: repr(names[c]) if names and 0 <= c < len(names) else str(c))  # noqa: E731
    listed = ", ".join(f"{nm(c)} ({k} image{'s' * (k != 1)})" for c, k in small[:5])
    more = f" and {len(small) - 5} more" if len(small) > 5 else ""
    raise ValueError(
        f"c2mf.labels='label': folder class(es) {listed}{more} have fewer than "
        f"c2mf.min_images={min_images} images, too few for a train/test split by image: lower "
        f"c2mf.min_images (>= 2), add images to the folder(s), or leave them out "
        "(prepare.classes)")


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
