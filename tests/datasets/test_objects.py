"""The objects dataset: photo cut-outs on backgrounds, masks aligned with pixels, errors, I/O."""

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

import jaxconcepts.datasets._objects as objects_mod
from jaxconcepts.datasets import (
    BACKGROUNDS,
    OBJECT_CLASS_NAMES,
    OBJECT_CLASSES,
    ObjectsConfig,
    generate_object_split,
    load_sources,
    load_truth,
    package_data_dir,
    write_objects,
)

SMALL = ObjectsConfig(image_size=64, n_train=1, n_val=0, n_test=2)


@pytest.fixture(scope="module")
def sources():
    return load_sources(SMALL)


def test_catalogue_is_installed_and_sane():
    # Every photo ships with this environment's packages, wnids look like ImageNet ids, and
    # polygons lie inside their photos (load_sources would raise otherwise).
    for spec in (*OBJECT_CLASSES, *BACKGROUNDS):
        assert (package_data_dir(spec.package) / spec.file).is_file(), spec.source
    for spec in OBJECT_CLASSES:
        assert all(len(w) == 9 and w[0] == "n" and w[1:].isdigit() for w in spec.wnids)
    assert len(OBJECT_CLASSES) >= 8
    assert len(set(OBJECT_CLASS_NAMES)) == len(OBJECT_CLASS_NAMES)


def test_same_seed_same_images_other_seed_differs(sources):
    a = list(generate_object_split(SMALL, "test", seed=3, sources=sources))
    b = list(generate_object_split(SMALL, "test", seed=3, sources=load_sources(SMALL)))
    c = list(generate_object_split(SMALL, "test", seed=4, sources=sources))
    assert len(a) == 2 * len(OBJECT_CLASSES)
    for x, y in zip(a, b):
        assert x.image.tobytes() == y.image.tobytes()
        assert x.part_map.tobytes() == y.part_map.tobytes()
    assert any(not np.array_equal(x.image, z.image) for x, z in zip(a, c))


def test_image_does_not_depend_on_split_size_or_other_splits(sources):
    short = list(generate_object_split(SMALL, "test", seed=0, sources=sources, n_images=3))
    long = list(generate_object_split(SMALL, "test", seed=0, sources=sources, n_images=11))
    for x, y in zip(short, long):
        np.testing.assert_array_equal(x.image, y.image)
    assert [im.label for im in long] == [i % len(OBJECT_CLASSES) for i in range(11)]
    train = list(generate_object_split(SMALL, "train", seed=0, sources=sources, n_images=3))
    assert not any(np.array_equal(x.image, y.image) for x, y in zip(short, train))


def test_mask_inside_image_non_empty_and_boxed(sources):
    cfg = ObjectsConfig(image_size=64, scale=(0.35, 0.75))
    for im in generate_object_split(cfg, "val", seed=1, sources=sources, n_images=27):
        assert im.part_map.shape == im.image.shape[:2] == (64, 64)
        assert set(np.unique(im.part_map)) == {-1, im.label}
        mask = im.mask(im.label)
        y0, x0, y1, x1 = im.box
        ys, xs = np.nonzero(mask)
        assert (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1) == (y0, x0, y1, x1)
        py0, px0, py1, px1 = im.paste
        assert 0 <= py0 <= y0 < y1 <= py1 <= 64 and 0 <= px0 <= x0 < x1 <= px1 <= 64
        assert cfg.scale[0] - 0.02 <= max(py1 - py0, px1 - px0) / 64 <= cfg.scale[1] + 0.02
        assert np.array_equal(mask, im.alpha >= 0.5)
        np.testing.assert_array_equal(np.flatnonzero(im.present), [im.label])
        np.testing.assert_array_equal(im.present, im.defining)


def test_object_pixels_are_the_source_pixels_where_alpha_is_one():
    # Without jitter, a pixel the object covers fully shows the resized source photo there.
    cfg = ObjectsConfig(image_size=96, brightness=0.0, contrast=0.0)
    src = load_sources(cfg)
    n_checked = n_mask = 0
    for im in generate_object_split(cfg, "test", seed=2, sources=src, n_images=18):
        cut = src.cutouts[im.label]
        y0, x0, y1, x1 = im.paste
        ref = np.asarray(Image.fromarray(cut.rgb).resize((x1 - x0, y1 - y0), Image.LANCZOS))
        if im.flip:
            ref = ref[:, ::-1]
        full = im.alpha[y0:y1, x0:x1] >= 1.0 - 1e-6
        diff = np.abs(im.image[y0:y1, x0:x1][full].astype(int) - ref[full].astype(int))
        assert diff.max(initial=0) <= 1, cut.spec.name
        n_checked += int(full.sum())
        n_mask += int(im.mask(im.label).sum())
    assert n_checked > 0.5 * n_mask  # most of the mask is fully opaque (thin rocket: least)


def test_write_and_load_truth_round_trip(tmp_path, sources):
    images_dir, prepare_dir = tmp_path / "images", tmp_path / "prepare"
    meta = write_objects(images_dir, prepare_dir, SMALL, seed=7, progress=False)
    k = len(OBJECT_CLASSES)
    assert meta["sizes"] == {"train": k, "val": 0, "test": 2 * k}
    truth = load_truth(prepare_dir / "truth", "test")
    assert truth.part_names == truth.class_names == list(OBJECT_CLASS_NAMES)
    assert truth.part_map.shape == (2 * k, 64, 64) and truth.part_map.dtype == np.int8
    assert truth.label.dtype == np.int32 and truth.present.shape == (2 * k, k)
    np.testing.assert_array_equal(truth.present, np.eye(k, dtype=bool)[truth.label])
    np.testing.assert_array_equal(truth.defining, truth.present)
    assert truth.meta["recipes"] == [[c] for c in range(k)]
    gen = list(generate_object_split(SMALL, "test", seed=7, sources=sources))
    for i, im in enumerate(gen):
        np.testing.assert_array_equal(truth.part_map[i], im.part_map)
        png = np.asarray(Image.open(images_dir / truth.files[i]))
        np.testing.assert_array_equal(png, im.image)
        rec = truth.meta["images"]["test"][i]
        assert rec["box"] == list(im.box) and rec["source"] == im.source
        assert rec["distractors"] == [] and rec["parts"] == rec["defining"] == [im.label]
        assert truth.masks(i).sum(0).max() <= 1
    # class folders sort in label order; train/val under prepare_dir; truth.json per class
    folders = sorted(p.name for p in images_dir.iterdir())
    assert folders == truth.meta["class_folders"]
    assert [int(f.split("_")[0]) for f in folders] == list(range(k))
    assert len(list((prepare_dir / "train").rglob("*.png"))) == k
    on_disk = json.loads((prepare_dir / "truth" / "truth.json").read_text())
    assert [o["wnids"] for o in on_disk["objects"]] == [list(c.wnids) for c in OBJECT_CLASSES]
    assert load_truth(prepare_dir / "truth", "val").label.shape == (0,)


def test_write_is_deterministic(tmp_path):
    cfg = ObjectsConfig(image_size=48, classes=("cat", "rocket"), n_test=1)
    for d in ("a", "b"):
        write_objects(tmp_path / d / "images", tmp_path / d / "prepare", cfg, seed=1,
                      progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert len(files) == 2
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    truth = load_truth(tmp_path / "a" / "prepare" / "truth")
    assert truth.class_names == ["cat", "rocket"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"classes": ("cat", "unicorn")}, r"unknown class\(es\) \['unicorn'\]; valid choices"),
        ({"classes": ("cat",)}, r">= 2 distinct"),
        ({"n_test": 0}, r"n_test=0 images per class is too few"),
        ({"n_train": -1}, r"n_train=-1 should be an int >= 0"),
        ({"scale": (0.8, 0.4)}, r"scale=\(0.8, 0.4\)"),
        ({"image_size": 16}, r"image_size=16"),
    ],
)
def test_config_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ObjectsConfig(**kwargs)


def _patch_class(monkeypatch, name, **changes):
    patched = tuple(dataclasses.replace(c, **changes) if c.name == name else c
                    for c in OBJECT_CLASSES)
    monkeypatch.setattr(objects_mod, "OBJECT_CLASSES", patched)


def test_polygon_outside_its_photo_names_class_and_photo(monkeypatch):
    # chelsea.png is 451 x 300: a vertex at x=460 is outside.
    _patch_class(monkeypatch, "cat", polygons=(((10, 10), (460, 20), (100, 200)),))
    with pytest.raises(ValueError, match=r"class 'cat' .*\(x=460, y=20\).*skimage/chelsea.png "
                                         r"of size 451x300"):
        load_sources(ObjectsConfig(classes=("cat", "rocket")))


def test_missing_photo_leaves_the_class_out_or_raises(monkeypatch):
    _patch_class(monkeypatch, "dahlia", file="no_such_flower.jpg")
    with pytest.warns(UserWarning, match=r"leaving out class\(es\) 'dahlia' \(package 'sklearn' "
                                         r"has no file 'no_such_flower.jpg'"):
        src = load_sources(ObjectsConfig(classes=("cat", "dahlia", "rocket")))
    assert src.class_names == ("cat", "rocket") and src.left_out == ("dahlia",)
    with pytest.raises(ValueError, match=r"only 1 of classes=\['cat', 'dahlia'\].*>= 2 are "
                                         r"needed.*no_such_flower.jpg"):
        load_sources(ObjectsConfig(classes=("cat", "dahlia")))


def test_missing_package_names_it(monkeypatch):
    real = objects_mod.package_data_dir
    monkeypatch.setattr(objects_mod, "package_data_dir",
                        lambda p: None if p == "sklearn" else real(p))
    with pytest.warns(UserWarning) as rec:
        src = load_sources(ObjectsConfig())
    text = " ".join(str(w.message) for w in rec)
    assert "'pagoda' (package 'sklearn' is not installed)" in text
    assert "'bokeh' (package 'sklearn' is not installed)" in text
    assert "pagoda" not in src.class_names and "dahlia" not in src.class_names
    assert len(src.class_names) == len(OBJECT_CLASSES) - 2


def test_prepare_stage_writes_the_objects_dataset(tmp_path, monkeypatch):
    from jaxconcepts.datasets import load_truth
    from jaxconcepts.stages import prepare
    from tests._params import write_params

    monkeypatch.chdir(tmp_path)
    small = {"seed": 0, "image_size": 64, "classes": ["cat", "espresso"], "scale": [0.4, 0.6],
             "n_test": 2}
    write_params(tmp_path / "params.yaml", datasets={"obj": {"prepare": {"source": "objects"}}},
                 objects=small)
    prepare.main(["--dataset", "obj"])
    files = sorted(p.relative_to(tmp_path / "data/obj/images").as_posix()
                   for p in (tmp_path / "data/obj/images").rglob("*.png"))
    assert [f.split("/")[0] for f in files] == ["00_cat"] * 2 + ["01_espresso"] * 2
    truth = load_truth(tmp_path / "data/obj/prepare/truth", "test")
    assert sorted(truth.files) == files and truth.class_names == ["cat", "espresso"]
    assert (truth.part_map >= 0).any(axis=(1, 2)).all()  # every image shows its object
    write_params(tmp_path / "params.yaml", datasets={"obj": {"prepare": {"source": "objects"}}},
                 objects={**small, "scale": [0.6, 0.4]})
    with pytest.raises(ValueError, match=r"objects.scale=\[0.6, 0.4\]"):
        prepare.main(["--dataset", "obj"])
