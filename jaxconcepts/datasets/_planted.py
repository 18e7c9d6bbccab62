"""Planted-concept images: a dataset whose concepts are known, so extracted concepts can be scored.

Every image is a noisy, textured background with 2-4 non-overlapping **parts** (textured shapes
from a fixed vocabulary, :data:`PARTS`). A **class** is a *recipe*: the set of 2-3 parts that
must be present (:data:`RECIPES`); parts are shared across classes, so no single part identifies
a class and a dictionary of parts shared by all classes is meaningful. With probability
``p_distractor`` an image also gets one **distractor** part that is not in its recipe, chosen so
that recipe + distractor never contains another class's recipe (the label stays unambiguous).

Positions, scales, rotations and colours are random. Generation is pure numpy and deterministic:
image ``i`` of split ``s`` is drawn from ``np.random.default_rng([seed, SPLIT_IDS[s], i])``, so it
does not depend on how many images are generated, on other splits, or on the order of generation.

Ground truth per image (:class:`PlantedImage`): ``part_map`` int8 (H, W), the part id of every
pixel (``-1`` = background; parts never overlap, so the mask of part ``p`` is
``part_map == p``), ``present`` / ``defining`` bool (P,) (which parts are drawn / define the
class), the class label, and the geometry and colours of each part.

On-disk layout written by :func:`write_planted` (the ``prepare`` step of the ``planted`` dataset)::

    data/planted/images/<class>/test_00000.png      the test split: what the pipeline explains
    data/planted/prepare/train/<class>/train_00000.png
    data/planted/prepare/val/<class>/val_00000.png
    data/planted/prepare/truth/truth.json           parts, classes, recipes, allowed distractors,
                                                    config, and per image: split, file (relative
                                                    to the split's root), label, parts present,
                                                    defining parts, distractors, centre/radius
    data/planted/prepare/truth/<split>.npz          compressed arrays, rows in the order of
                                                    ``truth.json`` ``images[split]``:
                                                    part_map int8 (n, H, W), label int32 (n,),
                                                    present bool (n, P), defining bool (n, P)

``<class>`` folder names are ``"{label:02d}_{class_name}"`` so that sorting them (as ImageFolder
loaders do) gives the label order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = [
    "PARTS",
    "RECIPES",
    "CLASS_NAMES",
    "SPLIT_IDS",
    "PlantedConfig",
    "PlantedImage",
    "allowed_distractors",
    "render_part",
    "generate_image",
    "generate_split",
    "image_rng",
    "class_folder",
]

#: Part vocabulary: (name, shape, texture). Part id = position in this tuple.
PARTS: tuple[str, ...] = (
    "striped_disc",
    "checkered_square",
    "dotted_triangle",
    "ring",
    "cross",
    "hatched_diamond",
    "grid_hexagon",
    "crescent",
)

#: Class recipes: the parts that define each class (indices into PARTS). No recipe is a subset of
#: another; every part is used by 2-3 classes.
RECIPES: tuple[tuple[int, ...], ...] = (
    (0, 1),
    (2, 3),
    (4, 5),
    (6, 7),
    (0, 2, 4),
    (1, 3, 6),
    (0, 5, 7),
    (1, 2, 7),
)

CLASS_NAMES: tuple[str, ...] = tuple("_".join(PARTS[p].split("_")[-1] for p in r) for r in RECIPES)

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
_MAX_LAYOUTS = 50


def class_folder(label: int, class_names: tuple[str, ...] = CLASS_NAMES) -> str:
    """Folder name of a class: ``"{label:02d}_{name}"`` (sorts in label order)."""
    return f"{label:02d}_{class_names[label]}"


@dataclass(frozen=True)
class PlantedConfig:
    """Generator settings (the ``planted:`` section of params.yaml maps onto these fields).

    Args:
      image_size: side of the square images in pixels.
      n_classes: use the first ``n_classes`` recipes of :data:`RECIPES` (2..8).
      radius: (min, max) part radius as a fraction of ``image_size``.
      p_distractor: probability that an image gets one distractor part.
      noise: std of the per-pixel Gaussian noise added to the whole image (0..1 scale).
      background_contrast: amplitude of the low-frequency background texture.
    """

    image_size: int = 64
    n_classes: int = 8
    radius: tuple[float, float] = (0.17, 0.23)
    p_distractor: float = 0.2
    noise: float = 0.04
    background_contrast: float = 0.12

    def __post_init__(self):
        if not isinstance(self.image_size, int) or self.image_size < 32:
            raise ValueError(f"image_size={self.image_size!r} should be an int >= 32")
        if not 2 <= self.n_classes <= len(RECIPES):
            raise ValueError(f"n_classes={self.n_classes!r} should be in [2, {len(RECIPES)}]")
        lo, hi = self.radius
        if not 0.05 <= lo <= hi <= 0.25:
            raise ValueError(f"radius={self.radius!r} should satisfy 0.05 <= min <= max <= 0.25")
        if not 0.0 <= self.p_distractor <= 1.0:
            raise ValueError(f"p_distractor={self.p_distractor!r} should be in [0, 1]")
        if self.noise < 0 or self.background_contrast < 0:
            raise ValueError(
                f"noise={self.noise!r} and background_contrast={self.background_contrast!r} "
                "should be >= 0"
            )

    @property
    def recipes(self) -> tuple[tuple[int, ...], ...]:
        return RECIPES[: self.n_classes]

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES[: self.n_classes]


class PartPlacement(NamedTuple):
    part: int
    cy: float
    cx: float
    radius: float
    angle: float
    colour: tuple[float, float, float]
    colour2: tuple[float, float, float]
    defining: bool


@dataclass
class PlantedImage:
    """One generated image and its ground truth.

    image uint8 (H, W, 3); part_map int8 (H, W) with -1 = background; present/defining bool (P,).
    """

    image: np.ndarray
    part_map: np.ndarray
    label: int
    present: np.ndarray
    defining: np.ndarray
    placements: list[PartPlacement] = field(default_factory=list)

    def mask(self, part: int) -> np.ndarray:
        """Boolean (H, W) mask of ``part`` (all False when absent)."""
        return self.part_map == part


def allowed_distractors(recipes: tuple[tuple[int, ...], ...], n_parts: int = len(PARTS)):
    """Per class, the parts that may be added as a distractor without creating another recipe.

    Part ``p`` is allowed for class ``c`` when ``p`` is not in ``recipes[c]`` and
    ``recipes[c] + {p}`` contains no other class's recipe.
    """
    out = []
    for c, r in enumerate(recipes):
        ok = []
        for p in range(n_parts):
            if p in r:
                continue
            s = set(r) | {p}
            if not any(set(r2) <= s for c2, r2 in enumerate(recipes) if c2 != c):
                ok.append(p)
        out.append(tuple(ok))
    return tuple(out)


def _shape_and_texture(part: int, u: np.ndarray, v: np.ndarray, rng: np.random.Generator):
    """Shape mask and texture (True = second colour) in the part's unit frame (|u|, |v| <= 1)."""
    rho2 = u * u + v * v
    name = PARTS[part]
    if name == "striped_disc":
        shape = rho2 <= 1.0
        tex = np.sin(np.pi * 2.5 * u) > 0
    elif name == "checkered_square":
        shape = np.maximum(np.abs(u), np.abs(v)) <= 0.7  # corners at 0.99
        tex = (np.floor((u + 1) * 2.0) + np.floor((v + 1) * 2.0)) % 2 == 1
    elif name == "dotted_triangle":
        shape = np.ones_like(u, dtype=bool)
        for a in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            shape &= u * np.cos(a) + v * np.sin(a) <= 0.5
        fu = (u * 2.5) % 1.0 - 0.5
        fv = (v * 2.5) % 1.0 - 0.5
        tex = fu * fu + fv * fv <= 0.08
    elif name == "ring":
        shape = (rho2 <= 1.0) & (rho2 >= 0.55**2)
        tex = np.zeros_like(shape)
    elif name == "cross":
        au, av = np.abs(u), np.abs(v)
        shape = ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))
        tex = np.zeros_like(shape)
    elif name == "hatched_diamond":
        shape = np.abs(u) + np.abs(v) <= 1.0
        tex = np.sin(np.pi * 2.5 * (u + v)) > 0
    elif name == "grid_hexagon":
        shape = np.ones_like(u, dtype=bool)
        for a in (0.0, np.pi / 3, 2 * np.pi / 3):
            shape &= np.abs(u * np.cos(a) + v * np.sin(a)) <= 0.86  # vertices at 0.99
        tex = ((u * 2.0) % 1.0 < 0.35) | ((v * 2.0) % 1.0 < 0.35)
    elif name == "crescent":
        shape = (rho2 <= 1.0) & ((u - 0.45) ** 2 + v * v >= 0.72**2)
        tex = rng.random(u.shape) < 0.25
    else:  # pragma: no cover - PARTS and this table are edited together
        raise ValueError(f"part={part!r} has no renderer")
    return shape, tex & shape


def render_part(
    canvas: np.ndarray, part_map: np.ndarray, pl: PartPlacement, rng: np.random.Generator
) -> None:
    """Draw one part into ``canvas`` (H, W, 3 float) and ``part_map`` (H, W int8), in place."""
    h, w = part_map.shape
    r = pl.radius
    y0, y1 = max(0, int(math.floor(pl.cy - r - 1))), min(h, int(math.ceil(pl.cy + r + 1)) + 1)
    x0, x1 = max(0, int(math.floor(pl.cx - r - 1))), min(w, int(math.ceil(pl.cx + r + 1)) + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dy, dx = (yy + 0.5 - pl.cy) / r, (xx + 0.5 - pl.cx) / r
    c, s = math.cos(pl.angle), math.sin(pl.angle)
    u, v = c * dx + s * dy, -s * dx + c * dy
    shape, tex = _shape_and_texture(pl.part, u, v, rng)
    patch = canvas[y0:y1, x0:x1]
    patch[shape] = pl.colour
    patch[tex] = pl.colour2
    part_map[y0:y1, x0:x1][shape] = pl.part


def _luminance(c: np.ndarray) -> float:
    return float(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])


def _colours(rng: np.random.Generator, bg_lum: float) -> tuple[np.ndarray, np.ndarray]:
    """A part's main colour (contrasting with the background) and its texture colour."""
    for _ in range(100):
        c1 = rng.random(3)
        if abs(_luminance(c1) - bg_lum) >= 0.25:
            break
    for _ in range(100):
        c2 = rng.random(3)
        if abs(_luminance(c2) - _luminance(c1)) >= 0.35:
            break
    return c1, c2


def _background(rng: np.random.Generator, n: int, contrast: float) -> tuple[np.ndarray, float]:
    base = rng.uniform(0.3, 0.7, size=3)
    yy, xx = np.mgrid[0:n, 0:n] / n
    tex = np.zeros((n, n))
    for _ in range(3):  # low-frequency gratings at random orientations
        f = rng.uniform(0.5, 3.0)
        a = rng.uniform(0, np.pi)
        ph = rng.uniform(0, 2 * np.pi)
        tex += np.sin(2 * np.pi * f * (np.cos(a) * xx + np.sin(a) * yy) + ph)
    tint = rng.uniform(0.5, 1.0, size=3)
    img = base + contrast / 3.0 * tex[..., None] * tint
    return img, _luminance(base)


def _place(
    rng: np.random.Generator, parts: list[int], n: int, radius: tuple[float, float]
) -> list[tuple[float, float, float]] | None:
    """Non-overlapping circles (cy, cx, r) fully inside the image, or None if rejection fails."""
    out: list[tuple[float, float, float]] = []
    for _ in parts:
        for _ in range(200):
            r = rng.uniform(*radius) * n
            cy, cx = rng.uniform(r, n - r, size=2)
            if all((cy - y) ** 2 + (cx - x) ** 2 >= (r + q + 2) ** 2 for y, x, q in out):
                out.append((cy, cx, r))
                break
        else:
            return None
    return out


def generate_image(config: PlantedConfig, label: int, rng: np.random.Generator) -> PlantedImage:
    """One image of class ``label`` drawn with ``rng`` (see module docstring for the recipe).

    Raises:
      ValueError: ``label`` outside ``[0, config.n_classes)``.
    """
    if not 0 <= label < config.n_classes:
        raise ValueError(f"label={label!r} should be in [0, n_classes={config.n_classes})")
    n = config.image_size
    recipe = list(config.recipes[label])
    allowed = allowed_distractors(config.recipes)[label]
    parts = recipe.copy()
    if allowed and rng.random() < config.p_distractor:
        parts.append(int(rng.choice(allowed)))
    rng.shuffle(parts)
    for _ in range(_MAX_LAYOUTS):  # retry with fresh positions (deterministic given rng)
        if (circles := _place(rng, parts, n, config.radius)) is not None:
            break
    else:
        raise ValueError(
            f"radius={config.radius} is too large to place {len(parts)} non-overlapping parts in "
            f"a {n}x{n} image; lower radius"
        )
    canvas, bg_lum = _background(rng, n, config.background_contrast)
    part_map = np.full((n, n), -1, dtype=np.int8)
    placements = []
    for p, (cy, cx, r) in zip(parts, circles):
        c1, c2 = _colours(rng, bg_lum)
        pl = PartPlacement(
            part=int(p), cy=float(cy), cx=float(cx), radius=float(r),
            angle=float(rng.uniform(0, 2 * np.pi)),
            colour=tuple(map(float, c1)), colour2=tuple(map(float, c2)),
            defining=p in recipe,
        )
        render_part(canvas, part_map, pl, rng)
        placements.append(pl)
    canvas = canvas + rng.normal(0.0, config.noise, size=canvas.shape)
    image = np.clip(np.rint(canvas * 255.0), 0, 255).astype(np.uint8)
    present = np.zeros(len(PARTS), dtype=bool)
    present[parts] = True
    defining = np.zeros(len(PARTS), dtype=bool)
    defining[recipe] = True
    return PlantedImage(image, part_map, int(label), present, defining, placements)


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of ``split``: independent of every other image."""
    if split not in SPLIT_IDS:
        raise ValueError(f"split={split!r} is not one of {sorted(SPLIT_IDS)}")
    return np.random.default_rng([int(seed), SPLIT_IDS[split], int(index)])


def generate_split(config: PlantedConfig, split: str, n_images: int, *, seed: int):
    """Yield ``n_images`` :class:`PlantedImage` of ``split``; image ``i`` has label ``i % K``."""
    if n_images < 0:
        raise ValueError(f"n_images={n_images!r} should be >= 0")
    for i in range(n_images):
        yield generate_image(config, i % config.n_classes, image_rng(seed, split, i))
