"""Real-photo objects on real backgrounds: a benchmark whose object masks are known.

Every image is one **background** (a random crop of a texture or of a photo region that shows none
of the objects) with one **object** pasted on it. The objects are cut out of photos that ship
inside installed packages (scikit-image's ``data`` folder, scikit-learn's ``datasets/images``,
matplotlib's ``sample_data``), so nothing is downloaded. Each object class is one photo and a
**hand-drawn polygon** (or a few, whose union is the object) in that photo's pixel coordinates:
the vertices in :data:`OBJECT_CLASSES` were placed by eye on a grid drawn over the photo and
checked on an overlay. They follow the object's outline with a few % of slack; where the object
runs off the photo (the cat's face, Grace Hopper's shoulders) the polygon follows the photo's
border. Each class also lists the ImageNet-1k synsets (WordNet ids, as in timm's
``imagenet_synsets.txt``) a classifier should answer for it; ``astronaut`` has none (a person in a
space suit is not an ImageNet class).

Compositing (:func:`generate_image`): the object's longer side is drawn uniformly in
``config.scale`` (fractions of the image side), its position uniformly among the positions that
keep it fully inside the image, with a random horizontal flip and a mild brightness/contrast
jitter (``(x - m) * gain + m + bias``, ``m`` the object's mean). The polygon's coverage is resized
with the object and feathered by a Gaussian of ``config.feather`` output pixels; the object is
alpha-blended with it. The ground-truth mask is ``alpha >= 0.5``.

Generation is pure numpy + PIL and deterministic: image ``i`` of split ``s`` is drawn from
``np.random.default_rng([seed, SPLIT_IDS[s], i])`` and has label ``i % K``, as in
:mod:`jaxconcepts.datasets._planted`, so it does not depend on how many images are generated.

Ground truth per image (:class:`ObjectsImage`) has the planted layout with the objects as the
parts (P = K): ``part_map`` int8 (H, W) holds the label where the object is and ``-1`` elsewhere,
``present`` = ``defining`` = one-hot of the label. :func:`jaxconcepts.datasets.write_objects`
writes the same on-disk layout as ``write_planted`` (``load_truth`` reads it unchanged).
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._planted import SPLIT_IDS, image_rng

__all__ = [
    "ObjectClass",
    "BackgroundSource",
    "OBJECT_CLASSES",
    "OBJECT_CLASS_NAMES",
    "BACKGROUNDS",
    "ObjectsConfig",
    "ObjectsImage",
    "ObjectSources",
    "Cutout",
    "package_data_dir",
    "load_sources",
    "generate_object_image",
    "generate_object_split",
]

Polygon = tuple[tuple[float, float], ...]

#: Where each package keeps its sample photos, relative to the package's directory.
_DATA_DIRS = {
    "skimage": "data",
    "sklearn": "datasets/images",
    "matplotlib": "mpl-data/sample_data",
}


@dataclass(frozen=True)
class ObjectClass:
    """One object class: a photo shipped in ``package`` and the object's outline in it.

    Args:
      name: class name (folder ``"{label:02d}_{name}"``).
      package: ``"skimage"``, ``"sklearn"`` or ``"matplotlib"`` (see :func:`package_data_dir`).
      file: the photo's name in the package's data folder.
      polygons: hand-drawn polygons, ``((x, y), ...)`` in source pixels (x right, y down,
        ``0 <= x <= width``, ``0 <= y <= height``); the object is their union.
      wnids: the ImageNet-1k synsets a classifier should answer (may be empty).
      description: what the photo and the cut-out show.
    """

    name: str
    package: str
    file: str
    polygons: tuple[Polygon, ...]
    wnids: tuple[str, ...]
    description: str

    @property
    def source(self) -> str:
        return f"{self.package}/{self.file}"


@dataclass(frozen=True)
class BackgroundSource:
    """A background photo or texture; ``box`` = (x0, y0, x1, y1), the region crops are drawn from
    (None: the whole photo). Regions of photos that also give an object exclude that object."""

    name: str
    package: str
    file: str
    box: tuple[int, int, int, int] | None = None

    @property
    def source(self) -> str:
        return f"{self.package}/{self.file}"


#: The object classes, in default label order. Polygons hand-drawn (see module docstring).
OBJECT_CLASSES: tuple[ObjectClass, ...] = (
    ObjectClass(
        "cat", "skimage", "chelsea.png",
        (((30, 0), (395, 0), (385, 40), (370, 90), (368, 150), (355, 200), (335, 235),
          (305, 265), (290, 300), (0, 300), (0, 130), (15, 75)),),
        ("n02123045", "n02123159", "n02124075"),  # tabby, tiger cat, Egyptian cat
        "Chelsea the cat: head and chest, cut where the photo ends",
    ),
    ObjectClass(
        "espresso", "skimage", "coffee.png",
        (((230, 28), (290, 17), (350, 25), (395, 48), (408, 72), (418, 64), (427, 72),
          (420, 105), (442, 122), (465, 160), (478, 210), (475, 260), (460, 300), (430, 335),
          (390, 365), (340, 382), (290, 388), (230, 383), (170, 365), (120, 335), (90, 300),
          (78, 250), (80, 200), (95, 155), (125, 115), (165, 88), (180, 78), (192, 50)),),
        ("n07920052", "n07930864", "n03063599"),  # espresso, cup, coffee mug
        "a cup of espresso on its saucer, with the spoon",
    ),
    ObjectClass(
        "rocket", "skimage", "rocket.jpg",
        (
            ((320, 124), (326, 130), (331, 142), (334, 160), (334, 185), (331, 195), (331, 405),
             (311, 405), (311, 195), (308, 185), (308, 160), (311, 142), (315, 130)),  # rocket
            ((292, 345), (350, 345), (357, 405), (286, 405)),  # launch mount (a lattice)
            ((268, 405), (375, 405), (375, 427), (268, 427)),  # top of the pad
        ),
        ("n03773504", "n04008634", "n04266014"),  # missile, projectile, space shuttle
        "a Falcon 9 rocket with its launch mount and the top of the pad (the mount is a lattice: "
        "its polygon holds the sky between the beams; without the mount the rocket alone reads "
        "as a matchstick)",
    ),
    ObjectClass(
        "motorcycle", "skimage", "motorcycle_left.png",
        (((92, 195), (150, 175), (155, 158), (200, 160), (260, 170), (340, 185), (380, 160),
          (420, 140), (470, 150), (490, 130), (505, 100), (530, 95), (560, 115), (585, 125),
          (585, 145), (560, 185), (540, 200), (545, 262), (600, 265), (640, 280), (650, 300),
          (670, 330), (685, 370), (685, 420), (665, 450), (620, 455), (570, 440), (535, 410),
          (520, 370), (510, 340), (480, 370), (420, 385), (350, 390), (345, 435), (325, 440),
          (320, 395), (280, 375), (250, 395), (200, 400), (160, 385), (130, 355), (120, 310),
          (130, 270), (150, 245), (120, 240), (95, 225)),),
        ("n03785016", "n03791053"),  # moped, motor scooter
        "a red Yamaha motorcycle in a garage",
    ),
    ObjectClass(
        "tripod", "skimage", "camera.png",
        (
            ((255, 140), (300, 132), (325, 135), (328, 150), (322, 185), (300, 192), (298, 300),
             (285, 300), (286, 192), (262, 190), (252, 170)),  # camcorder and centre column
            ((276, 305), (330, 303), (340, 300), (342, 310), (325, 320), (318, 335),
             (278, 335)),  # head and handle
            ((280, 330), (290, 335), (243, 505), (230, 505)),  # left leg
            ((287, 335), (297, 335), (298, 490), (288, 490)),  # column's foot
            ((300, 330), (312, 330), (405, 500), (395, 507)),  # right leg
        ),
        ("n04485082",),  # tripod
        "the cameraman's camcorder on its tripod (grey photo; the glove on the camera is kept)",
    ),
    ObjectClass(
        "pagoda", "sklearn", "china.jpg",
        (((205, 28), (213, 30), (215, 48), (222, 60), (255, 85), (285, 100), (320, 115),
          (318, 125), (305, 130), (305, 155), (330, 170), (328, 180), (315, 190), (318, 240),
          (340, 245), (350, 255), (345, 265), (330, 275), (335, 300), (330, 330), (345, 330),
          (360, 345), (365, 360), (340, 380), (320, 395), (300, 395), (240, 380), (200, 360),
          (120, 355), (70, 345), (65, 330), (80, 320), (75, 285), (60, 275), (70, 255),
          (85, 250), (95, 230), (98, 200), (85, 185), (90, 165), (110, 160), (105, 130),
          (95, 125), (100, 110), (140, 100), (175, 85), (195, 60), (198, 45)),),
        ("n03877845", "n03781244", "n02825657", "n04346328"),  # palace, monastery, bell cote, stupa
        "the Tower of Buddhist Incense (Summer Palace, Beijing) above the trees; ImageNet-1k has "
        "no pagoda, so the wnids are its nearest buildings",
    ),
    ObjectClass(
        "dahlia", "sklearn", "flower.jpg",
        (((300, 84), (340, 88), (380, 100), (410, 120), (430, 150), (443, 185), (447, 220),
          (443, 260), (430, 295), (405, 325), (375, 345), (340, 358), (300, 362), (260, 356),
          (225, 340), (195, 315), (175, 285), (167, 250), (168, 210), (178, 170), (195, 135),
          (225, 105), (260, 90)),),
        ("n11939491",),  # daisy (ImageNet-1k's only composite flower)
        "an orange pompon dahlia",
    ),
    ObjectClass(
        "naval_officer", "matplotlib", "grace_hopper.jpg",
        (((255, 22), (300, 30), (340, 55), (360, 85), (372, 130), (365, 180), (355, 220),
          (345, 270), (335, 320), (380, 345), (440, 370), (480, 390), (505, 420), (512, 450),
          (512, 600), (20, 600), (30, 460), (45, 400), (80, 370), (130, 345), (150, 325),
          (160, 280), (150, 240), (155, 180), (150, 130), (155, 90), (180, 55), (215, 30)),),
        ("n03763968",),  # military uniform
        "Grace Hopper in US Navy uniform and cap, head and shoulders",
    ),
    ObjectClass(
        "astronaut", "skimage", "astronaut.png",
        (((240, 14), (280, 25), (298, 55), (300, 100), (290, 135), (300, 150), (310, 190),
          (305, 250), (335, 265), (355, 290), (365, 340), (400, 342), (450, 350), (490, 380),
          (505, 420), (512, 512), (15, 512), (20, 400), (30, 300), (50, 270), (90, 245),
          (112, 215), (115, 170), (140, 150), (165, 125), (153, 80), (163, 45), (200, 20)),),
        (),  # a person in a space suit is not an ImageNet-1k class
        "Eileen Collins in her orange launch suit with her helmet",
    ),
)

OBJECT_CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in OBJECT_CLASSES)

#: Backgrounds: textures and photo regions that show none of the objects.
BACKGROUNDS: tuple[BackgroundSource, ...] = (
    BackgroundSource("brick", "skimage", "brick.png"),
    BackgroundSource("grass", "skimage", "grass.png"),
    BackgroundSource("gravel", "skimage", "gravel.png"),
    BackgroundSource("moon", "skimage", "moon.png"),
    BackgroundSource("hubble_deep_field", "skimage", "hubble_deep_field.jpg"),
    BackgroundSource("lake_and_trees", "sklearn", "china.jpg", (380, 0, 640, 427)),
    BackgroundSource("bokeh", "sklearn", "flower.jpg", (0, 0, 160, 427)),
    BackgroundSource("dusk_sky", "skimage", "rocket.jpg", (100, 0, 540, 110)),
    BackgroundSource("wood_table", "skimage", "coffee.png", (490, 0, 600, 400)),
    BackgroundSource("blue_sky", "matplotlib", "grace_hopper.jpg", (385, 0, 512, 310)),
)


def package_data_dir(package: str) -> Path | None:
    """The folder holding ``package``'s sample photos, or None when the package is not installed.

    Found with :func:`importlib.util.find_spec` (the package is not imported).

    Raises:
      ValueError: ``package`` is not one of the known packages.
    """
    if package not in _DATA_DIRS:
        raise ValueError(f"package={package!r} is not one of {sorted(_DATA_DIRS)}")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / _DATA_DIRS[package]


@dataclass(frozen=True)
class ObjectsConfig:
    """Generator settings (the ``objects:`` section of params.yaml maps onto these fields).

    Args:
      image_size: side of the square images in pixels.
      classes: class names from :data:`OBJECT_CLASS_NAMES`, in label order (None: all of them).
      scale: (min, max) of the object's longer side as a fraction of ``image_size``.
      n_train, n_val, n_test: images per class in each split (the test split is what the pipeline
        explains, so it needs at least one per class).
      brightness: the object's brightness shift is uniform in ``[-brightness, brightness]``
        (0..1 pixel scale).
      contrast: the object's contrast gain is uniform in ``[1 - contrast, 1 + contrast]``.
      feather: std in output pixels of the Gaussian that softens the mask's edge (0: none).
    """

    image_size: int = 256
    classes: tuple[str, ...] | None = None
    scale: tuple[float, float] = (0.35, 0.75)
    n_train: int = 0
    n_val: int = 0
    n_test: int = 20
    brightness: float = 0.06
    contrast: float = 0.15
    feather: float = 0.7

    def __post_init__(self):
        if not isinstance(self.image_size, int) or self.image_size < 32:
            raise ValueError(f"image_size={self.image_size!r} should be an int >= 32")
        if self.classes is not None:
            classes = (self.classes,) if isinstance(self.classes, str) else tuple(self.classes)
            object.__setattr__(self, "classes", classes)
            unknown = [c for c in classes if c not in OBJECT_CLASS_NAMES]
            if unknown:
                raise ValueError(
                    f"classes={list(classes)!r} has unknown class(es) {unknown}; valid choices: "
                    f"{list(OBJECT_CLASS_NAMES)}"
                )
            if len(set(classes)) != len(classes) or len(classes) < 2:
                raise ValueError(f"classes={list(classes)!r} should be >= 2 distinct names")
        lo, hi = self.scale
        if not 0.05 <= lo <= hi <= 1.0:
            raise ValueError(f"scale={self.scale!r} should satisfy 0.05 <= min <= max <= 1")
        object.__setattr__(self, "scale", (float(lo), float(hi)))
        for name in ("n_train", "n_val", "n_test"):
            n = getattr(self, name)
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValueError(f"{name}={n!r} should be an int >= 0 (images per class)")
        if self.n_test < 1:
            raise ValueError(
                f"n_test={self.n_test!r} images per class is too few: the test split (what the "
                "pipeline explains) needs >= 1 image of every class"
            )
        if not 0.0 <= self.brightness <= 0.5 or not 0.0 <= self.contrast < 1.0:
            raise ValueError(
                f"brightness={self.brightness!r} should be in [0, 0.5] and "
                f"contrast={self.contrast!r} in [0, 1)"
            )
        if not 0.0 <= self.feather <= 5.0:
            raise ValueError(f"feather={self.feather!r} should be in [0, 5] pixels")

    @property
    def class_names(self) -> tuple[str, ...]:
        """The requested classes (before any is left out for a missing photo)."""
        return OBJECT_CLASS_NAMES if self.classes is None else tuple(self.classes)

    def n_per_class(self, split: str) -> int:
        if split not in SPLIT_IDS:
            raise ValueError(f"split={split!r} is not one of {sorted(SPLIT_IDS)}")
        return getattr(self, f"n_{split}")


class Cutout(NamedTuple):
    """An object cut out of its photo: the polygons' bounding box.

    rgb uint8 (h, w, 3); alpha float32 (h, w), the polygons' coverage in [0, 1];
    box (x0, y0, x1, y1): where the crop lies in the photo.
    """

    spec: ObjectClass
    rgb: np.ndarray
    alpha: np.ndarray
    box: tuple[int, int, int, int]


class ObjectSources(NamedTuple):
    """The loaded photos: cut-outs in label order, background regions, what was left out."""

    cutouts: tuple[Cutout, ...]
    backgrounds: tuple[tuple[BackgroundSource, np.ndarray], ...]
    left_out: tuple[str, ...]

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.spec.name for c in self.cutouts)


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _missing(src: ObjectClass | BackgroundSource) -> str | None:
    """Why ``src``'s photo cannot be read, or None."""
    root = package_data_dir(src.package)
    if root is None:
        return f"package {src.package!r} is not installed"
    if not (root / src.file).is_file():
        return f"package {src.package!r} has no file {src.file!r} (looked in {root})"
    return None


def _rasterize(spec: ObjectClass, width: int, height: int, *, supersample: int = 4) -> np.ndarray:
    """Coverage in [0, 1] (height, width) float32 of the union of ``spec``'s polygons."""
    from PIL import Image, ImageDraw

    for j, poly in enumerate(spec.polygons):
        pts = np.asarray(poly, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
            raise ValueError(
                f"polygon {j} of class {spec.name!r} should be >= 3 (x, y) vertices, got "
                f"shape {pts.shape}"
            )
        bad = (pts[:, 0] < 0) | (pts[:, 0] > width) | (pts[:, 1] < 0) | (pts[:, 1] > height)
        if bad.any():
            x, y = pts[np.flatnonzero(bad)[0]]
            raise ValueError(
                f"polygon {j} of class {spec.name!r} has vertex (x={x:g}, y={y:g}) outside its "
                f"photo {spec.source} of size {width}x{height} (x in [0, {width}], "
                f"y in [0, {height}])"
            )
    s = supersample
    canvas = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(canvas)
    for poly in spec.polygons:
        draw.polygon([(x * s, y * s) for x, y in poly], fill=255)
    cover = canvas.reduce(s)
    alpha = np.asarray(cover, dtype=np.float32) / 255.0
    if not (alpha > 0).any():
        raise ValueError(f"the polygons of class {spec.name!r} cover no pixel of {spec.source}")
    return alpha


def _cutout(spec: ObjectClass) -> Cutout:
    rgb = _read_rgb(package_data_dir(spec.package) / spec.file)
    alpha = _rasterize(spec, rgb.shape[1], rgb.shape[0])
    ys, xs = np.nonzero(alpha > 0)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    return Cutout(spec, np.ascontiguousarray(rgb[y0:y1, x0:x1]),
                  np.ascontiguousarray(alpha[y0:y1, x0:x1]), (x0, y0, x1, y1))


def _background_region(src: BackgroundSource) -> np.ndarray:
    rgb = _read_rgb(package_data_dir(src.package) / src.file)
    if src.box is None:
        return rgb
    x0, y0, x1, y1 = src.box
    h, w = rgb.shape[:2]
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise ValueError(
            f"background {src.name!r}: box={src.box} is outside its photo {src.source} of size "
            f"{w}x{h}"
        )
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


def load_sources(config: ObjectsConfig) -> ObjectSources:
    """Read the photos of ``config``'s classes and the backgrounds; cut the objects out.

    A class (or background) whose photo is missing is left out with a ``UserWarning`` that names
    the package and file; the remaining classes keep their order and get labels 0..K'-1.

    Raises:
      ValueError: a polygon has a vertex outside its photo (names the class and the photo), or
        fewer than 2 classes (or no background) remain.
    """
    by_name = {c.name: c for c in OBJECT_CLASSES}
    cutouts, left_out, why = [], [], []
    for name in config.class_names:
        spec = by_name[name]
        if (reason := _missing(spec)) is not None:
            left_out.append(name)
            why.append(f"{name!r} ({reason})")
            continue
        cutouts.append(_cutout(spec))
    backgrounds, bg_why = [], []
    for src in BACKGROUNDS:
        if (reason := _missing(src)) is not None:
            bg_why.append(f"{src.name!r} ({reason})")
            continue
        backgrounds.append((src, _background_region(src)))
    if len(cutouts) < 2:
        raise ValueError(
            f"only {len(cutouts)} of classes={list(config.class_names)} have their photo "
            f"installed; >= 2 are needed. Missing: {'; '.join(why)}"
        )
    if why:
        warnings.warn(
            f"objects dataset: leaving out class(es) {'; '.join(why)}; "
            f"{len(cutouts)} classes remain", UserWarning, stacklevel=2,
        )
    if not backgrounds:
        raise ValueError(f"no background photo is installed: {'; '.join(bg_why)}")
    if bg_why:
        warnings.warn(f"objects dataset: leaving out background(s) {'; '.join(bg_why)}",
                      UserWarning, stacklevel=2)
    return ObjectSources(tuple(cutouts), tuple(backgrounds), tuple(left_out))


@dataclass
class ObjectsImage:
    """One composited image and its ground truth.

    image uint8 (H, W, 3); part_map int8 (H, W): ``label`` on the object, -1 elsewhere;
    alpha float32 (H, W): the blending weight of the object; present/defining bool (K,) one-hot;
    box (y0, x0, y1, x1): the mask's bounding box (ends exclusive); paste (y0, x0, y1, x1): where
    the resized cut-out lies; scale: its longer side / image side; flip: mirrored left-right;
    gain, bias: the contrast/brightness jitter; background: name, crop (x0, y0, x1, y1) in the
    background's photo and its flip.
    """

    image: np.ndarray
    part_map: np.ndarray
    alpha: np.ndarray
    label: int
    present: np.ndarray
    defining: np.ndarray
    box: tuple[int, int, int, int]
    paste: tuple[int, int, int, int]
    scale: float
    flip: bool
    gain: float
    bias: float
    source: str
    background: dict

    def mask(self, part: int) -> np.ndarray:
        """Boolean (H, W) mask of class ``part``'s object (all False for other classes)."""
        return self.part_map == part


def _resize(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """Lanczos resize of uint8 RGB (h, w, 3) or float32 (h, w) to (height, width), same dtype."""
    from PIL import Image

    mode = "F" if a.dtype == np.float32 else None
    return np.asarray(Image.fromarray(a, mode).resize((width, height), Image.LANCZOS))


def _feather(alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (std ``sigma`` px, edges repeated) of a (h, w) float32 map."""
    if sigma <= 0:
        return alpha
    r = max(1, math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)
    out = alpha
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        out = sum(w * np.take(p, np.arange(i, i + n), axis=axis) for i, w in enumerate(k))
    return out.astype(np.float32)


def _background(rng: np.random.Generator, region: np.ndarray, n: int):
    """A random square crop of ``region`` (60-100 % of its shorter side), maybe mirrored, resized
    to (n, n); returns float32 (n, n, 3) in [0, 1] and the crop (x0, y0, x1, y1) and flip."""
    h, w = region.shape[:2]
    side = max(8, int(round(rng.uniform(0.6, 1.0) * min(h, w))))
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    crop = region[y0:y0 + side, x0:x0 + side]
    flip = bool(rng.random() < 0.5)
    if flip:
        crop = crop[:, ::-1]
    out = _resize(np.ascontiguousarray(crop), n, n).astype(np.float32) / 255.0
    return out, (x0, y0, x0 + side, y0 + side), flip


def generate_object_image(
    sources: ObjectSources, config: ObjectsConfig, label: int, rng: np.random.Generator
) -> ObjectsImage:
    """One image of class ``label`` drawn with ``rng`` (see the module docstring).

    Raises:
      ValueError: ``label`` outside ``[0, K)``, or the object shrinks to no pixel.
    """
    k = len(sources.cutouts)
    if not 0 <= label < k:
        raise ValueError(f"label={label!r} should be in [0, n_classes={k})")
    n = config.image_size
    b = int(rng.integers(len(sources.backgrounds)))
    bg_src, region = sources.backgrounds[b]
    canvas, crop, bg_flip = _background(rng, region, n)

    cut = sources.cutouts[label]
    h, w = cut.alpha.shape
    scale = float(rng.uniform(*config.scale))
    f = scale * n / max(h, w)
    oh, ow = max(1, min(n, round(h * f))), max(1, min(n, round(w * f)))
    top = int(rng.integers(0, n - oh + 1))
    left = int(rng.integers(0, n - ow + 1))
    flip = bool(rng.random() < 0.5)
    gain = float(rng.uniform(1.0 - config.contrast, 1.0 + config.contrast))
    bias = float(rng.uniform(-config.brightness, config.brightness))

    rgb = _resize(cut.rgb, ow, oh).astype(np.float32) / 255.0
    alpha = np.clip(_resize(cut.alpha, ow, oh), 0.0, 1.0)
    if flip:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
    alpha = _feather(np.ascontiguousarray(alpha), config.feather)
    mean = (rgb * alpha[..., None]).sum((0, 1)) / max(float(alpha.sum()), 1e-6)
    rgb = np.clip((rgb - mean) * gain + mean + bias, 0.0, 1.0)

    full_alpha = np.zeros((n, n), np.float32)
    full_alpha[top:top + oh, left:left + ow] = alpha
    patch = canvas[top:top + oh, left:left + ow]
    canvas[top:top + oh, left:left + ow] = patch * (1.0 - alpha[..., None]) + rgb * alpha[..., None]
    image = np.clip(np.rint(canvas * 255.0), 0, 255).astype(np.uint8)

    mask = full_alpha >= 0.5
    if not mask.any():
        raise ValueError(
            f"class {cut.spec.name!r} shrinks to no pixel at image_size={n}, scale={scale:.3f}; "
            "raise image_size or scale"
        )
    ys, xs = np.nonzero(mask)
    box = (int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1)
    part_map = np.full((n, n), -1, np.int8)
    part_map[mask] = label
    onehot = np.zeros(k, bool)
    onehot[label] = True
    return ObjectsImage(
        image=image, part_map=part_map, alpha=full_alpha, label=int(label), present=onehot,
        defining=onehot.copy(), box=box, paste=(top, left, top + oh, left + ow), scale=scale,
        flip=flip, gain=gain, bias=bias, source=cut.spec.source,
        background={"name": bg_src.name, "source": bg_src.source,
                    "crop": _region_to_photo(bg_src, crop), "flip": bg_flip},
    )


def _region_to_photo(src: BackgroundSource, crop: tuple[int, int, int, int]) -> list[int]:
    """A crop (x0, y0, x1, y1) in the background's region, in its photo's coordinates."""
    dx, dy = (src.box[0], src.box[1]) if src.box is not None else (0, 0)
    x0, y0, x1, y1 = crop
    return [x0 + dx, y0 + dy, x1 + dx, y1 + dy]


def generate_object_split(
    config: ObjectsConfig, split: str, *, seed: int, sources: ObjectSources | None = None,
    n_images: int | None = None,
):
    """Yield the images of ``split``: ``config.n_<split>`` per class (or ``n_images`` in all);
    image ``i`` has label ``i % K`` and is drawn from ``image_rng(seed, split, i)``.

    ``sources`` (from :func:`load_sources`) saves re-reading the photos.
    """
    sources = load_sources(config) if sources is None else sources
    k = len(sources.cutouts)
    n = config.n_per_class(split) * k if n_images is None else n_images
    if n < 0:
        raise ValueError(f"n_images={n!r} should be >= 0")
    for i in range(n):
        yield generate_object_image(sources, config, i % k, image_rng(seed, split, i))
