"""The planted-concept generator: determinism, masks aligned with pixels, recipe labels, I/O."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxconcepts.datasets import (
    PARTS,
    RECIPES,
    PlantedConfig,
    allowed_distractors,
    class_folder,
    generate_image,
    generate_split,
    image_rng,
    load_truth,
    write_planted,
)

SMALL = PlantedConfig(image_size=48)


def test_same_seed_same_images_other_seed_differs():
    a = list(generate_split(SMALL, "train", 6, seed=3))
    b = list(generate_split(SMALL, "train", 6, seed=3))
    c = list(generate_split(SMALL, "train", 6, seed=4))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.image, y.image)
        np.testing.assert_array_equal(x.part_map, y.part_map)
    assert any(not np.array_equal(x.image, z.image) for x, z in zip(a, c))


def test_image_does_not_depend_on_split_size_or_other_splits():
    short = list(generate_split(SMALL, "test", 3, seed=0))
    long = list(generate_split(SMALL, "test", 9, seed=0))
    for x, y in zip(short, long):
        np.testing.assert_array_equal(x.image, y.image)
    train = list(generate_split(SMALL, "train", 3, seed=0))
    assert not any(np.array_equal(x.image, y.image) for x, y in zip(short, train))


@given(st.integers(0, 10_000), st.integers(0, 7))
def test_masks_aligned_with_pixels(seed, label):
    # Without noise, every pixel of part p's mask carries one of p's two colours, every part
    # pixel lies inside its circle, and the background has none of the part's pixels.
    cfg = PlantedConfig(image_size=48, noise=0.0)
    im = generate_image(cfg, label, image_rng(seed, "train", 0))
    assert im.part_map.shape == im.image.shape[:2]
    yy, xx = np.mgrid[0:48, 0:48] + 0.5
    for pl in im.placements:
        mask = im.mask(pl.part)
        assert mask.sum() > 20, f"{PARTS[pl.part]} has only {mask.sum()} pixels"
        cols = np.rint(np.array([pl.colour, pl.colour2]) * 255).astype(int)
        px = im.image[mask].astype(int)
        ok = (np.abs(px[:, None, :] - cols[None]).max(-1) <= 1).any(1)
        assert ok.all(), f"{(~ok).sum()} pixels of {PARTS[pl.part]} have a foreign colour"
        dist = np.hypot(yy - pl.cy, xx - pl.cx)[mask]
        assert dist.max() <= pl.radius + 0.75  # pixel centres within the circle (+ half a diagonal)
    drawn = {pl.part for pl in im.placements}
    assert set(np.unique(im.part_map)) - {-1} == drawn
    np.testing.assert_array_equal(np.flatnonzero(im.present), sorted(drawn))


def test_recipe_labels_and_distractors():
    allowed = allowed_distractors(RECIPES)
    n_distract = 0
    for im in generate_split(PlantedConfig(image_size=48), "val", 96, seed=1):
        recipe = set(RECIPES[im.label])
        present = set(np.flatnonzero(im.present))
        assert set(np.flatnonzero(im.defining)) == recipe
        assert recipe <= present
        extra = present - recipe
        assert len(extra) <= 1 and extra <= set(allowed[im.label])
        n_distract += len(extra)
        # the label is the only class whose recipe is drawn
        assert [c for c, r in enumerate(RECIPES) if set(r) <= present] == [im.label]
        assert {pl.part for pl in im.placements if pl.defining} == recipe
    assert 10 <= n_distract <= 50  # p_distractor = 0.2 of 96 images: about 19


def test_labels_cycle_through_classes():
    cfg = PlantedConfig(image_size=48, n_classes=5)
    labels = [im.label for im in generate_split(cfg, "train", 10, seed=0)]
    assert labels == [i % 5 for i in range(10)]


def test_allowed_distractors_never_complete_another_recipe():
    recipes = ((0, 1), (0, 1, 2), (3, 4))
    allowed = allowed_distractors(recipes, n_parts=5)
    assert 2 not in allowed[0]  # {0,1} + 2 would be class 1
    assert allowed[2] == (0, 1, 2)


def test_recipes_are_shared_and_not_nested():
    counts = np.bincount([p for r in RECIPES for p in r], minlength=len(PARTS))
    assert (counts >= 2).all()
    for a in RECIPES:
        for b in RECIPES:
            assert a == b or not set(a) <= set(b)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"image_size": 16}, "image_size"), ({"n_classes": 1}, "n_classes"),
     ({"radius": (0.3, 0.2)}, "radius"), ({"p_distractor": 1.5}, "p_distractor")],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PlantedConfig(**kwargs)


def test_bad_label_and_split_are_rejected():
    with pytest.raises(ValueError, match="label"):
        generate_image(SMALL, 8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="split"):
        image_rng(0, "holdout", 0)


def test_write_and_load_round_trip(tmp_path):
    from PIL import Image

    cfg = PlantedConfig(image_size=40, n_classes=3)
    meta = write_planted(tmp_path / "images", tmp_path / "prepare", cfg, n_train=6, n_val=3,
                         n_test=4, seed=7, progress=False)
    assert meta["sizes"] == {"train": 6, "val": 3, "test": 4}
    folders = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert folders == [class_folder(c) for c in range(3)]
    truth = load_truth(tmp_path / "prepare" / "truth", "test")
    assert truth.part_map.shape == (4, 40, 40) and truth.present.shape == (4, len(PARTS))
    regen = list(generate_split(cfg, "test", 4, seed=7))
    for i, f in enumerate(truth.files):
        png = np.array(Image.open(tmp_path / "images" / f))
        np.testing.assert_array_equal(png, regen[i].image)
        np.testing.assert_array_equal(truth.part_map[i], regen[i].part_map)
        np.testing.assert_array_equal(truth.masks(i)[3], regen[i].part_map == 3)
        assert truth.label[i] == regen[i].label
    train = load_truth(tmp_path / "prepare" / "truth", "train")
    assert all((tmp_path / "prepare" / "train" / f).is_file() for f in train.files)
    on_disk = json.loads((tmp_path / "prepare" / "truth" / "truth.json").read_text())
    assert on_disk["recipes"] == [list(r) for r in RECIPES[:3]]
    with pytest.raises(ValueError, match="split"):
        load_truth(tmp_path / "prepare" / "truth", "holdout")
    with pytest.raises(ValueError, match="n_test"):
        write_planted(tmp_path / "i2", tmp_path / "p2", cfg, n_train=6, n_val=0, n_test=2, seed=0)


def test_prepare_stage_generates_the_planted_dataset(tmp_path, monkeypatch):
    from jaxconcepts.stages import prepare
    from tests._params import write_params

    monkeypatch.chdir(tmp_path)
    small = {"seed": 1, "image_size": 32, "n_classes": 2, "n_train": 4, "n_val": 2, "n_test": 2}
    write_params(tmp_path / "params.yaml", datasets={"planted": {"prepare": {"source": "planted"}}},
                 planted=small)
    prepare.main(["--dataset", "planted"])
    assert len(list((tmp_path / "data/planted/images").rglob("*.png"))) == 2
    assert len(list((tmp_path / "data/planted/prepare/train").rglob("*.png"))) == 4
    write_params(tmp_path / "params.yaml", datasets={"planted": {"prepare": {"source": "planted"}}},
                 planted={**small, "sizes": 3})
    with pytest.raises(ValueError, match=r"unknown keys \['sizes'\].*valid keys"):
        prepare.main(["--dataset", "planted"])


def test_impossible_layout_raises_instead_of_looping():
    cfg = PlantedConfig(image_size=32, radius=(0.25, 0.25), p_distractor=1.0)
    with pytest.raises(ValueError, match="radius"):
        for i in range(8):
            generate_image(cfg, 4, image_rng(0, "train", i))  # 3 parts + 1 distractor
