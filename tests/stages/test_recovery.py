"""The recovery stage end to end on a hand-made store whose channels are the part masks."""

import json

import numpy as np
import pytest

from jaxconcepts._parts import write_part
from jaxconcepts.datasets import PARTS, RECIPES, PlantedConfig, load_truth, write_planted
from tests._params import repo_params, write_params

P = len(PARTS)
REPO_RECOVERY = repo_params()["recovery"]


def _setup(tmp_path, *, crop_pct=1.0):
    write_planted(tmp_path / "data/planted/images", tmp_path / "data/planted/prepare",
                  PlantedConfig(image_size=32, n_classes=2), n_train=2, n_val=0, n_test=6,
                  seed=0, progress=False)
    truth = load_truth(tmp_path / "data/planted/prepare/truth", "test")
    n = len(truth.files)
    masks = (truth.part_map[:, None] == np.arange(P)[None, :, None, None]).astype(np.float32)
    acts = masks.reshape(n, P, 8, 4, 8, 4).mean((3, 5))  # channel p = part p, pooled to 8x8
    acts = np.concatenate([acts, 0.5 * acts], axis=1)  # two channels per part
    weight = np.zeros((2, 2 * P), np.float32)
    for c in range(2):
        weight[c, list(RECIPES[c])] = 10.0
    logits = acts.mean((-2, -1)) @ weight.T
    from jaxconcepts.store import HeadParams, StoreWriter

    images = [{"index": i, "path": str(tmp_path / "data/planted/images" / f),
               "label": int(truth.label[i])} for i, f in enumerate(truth.files)]
    rev = images[::-1]  # store rows in another order than the truth: matched by path
    order = [im["index"] for im in rev]
    with StoreWriter(tmp_path / "data/planted/activations", shard_size=4) as w:
        w.add(activations=acts[order], logits=logits[order], target=truth.label[order],
              label=truth.label[order], pred=truth.label[order], prob=np.ones(n),
              index=np.asarray(order))
        w.finish({"images": rev, "shape": [2 * P, 8, 8], "preprocessing": {"crop_pct": crop_pct}},
                 HeadParams(weight, np.zeros(2, np.float32)))
    live = acts.reshape(n, 2 * P, -1).max(-1) > 0
    labels = np.where(live, np.arange(2 * P)[None] % P, -1).astype(np.int32)  # concept p: both
    one = dict(process_index=0, process_count=1, store_images=n)  # one process: one part
    write_part(tmp_path / "data/planted/concepts",
               {"cgap_labels": labels, "cgap_sub_labels": np.where(live, 0, -1).astype(np.int32),
                "index": np.arange(n, dtype=np.int32)}, {}, **one)
    imp = np.where(truth.defining, 50.0, 1.0).astype(np.float32)
    write_part(tmp_path / "data/planted/importance",
               {"cgap_importance": imp, "cgap_keep_importance": imp,
                "cgap_sub_importance": imp[..., None], "p_t": np.ones(n, np.float32),
                "target": truth.label.astype(np.int32), "index": np.arange(n, dtype=np.int32)},
               {}, **one)
    write_params(tmp_path / "params.yaml", seed=0, datasets={"planted": {}},
                 recovery={"methods": ["cgap"], "batch_size": 4})


@pytest.mark.slow
def test_recovery_stage_scores_perfect_concepts_and_baseline(tmp_path, monkeypatch):
    from jaxconcepts.stages import recovery

    monkeypatch.chdir(tmp_path)
    _setup(tmp_path)
    recovery.main(["--dataset", "planted"])
    out = json.loads((tmp_path / "reports/planted/recovery.json").read_text())
    assert set(out) >= {"cgap", "cgap_sub", "random_cgap", "random_cgap_sub", "settings",
                        "baseline"}
    cg, rnd = out["cgap"], out["random_cgap"]
    assert cg["pointing"] == 1.0 and cg["auroc"] > 0.95
    assert cg["parts_found"] == cg["parts_present"]
    assert cg["importance"]["auroc"] == 1.0
    assert cg["importance"]["by_category"]["defining"]["mean_importance"] == 50.0
    # random pairs of channels mix parts: worse maps, and defining/other no longer separable
    assert rnd["iou"] < cg["iou"] and rnd["auroc"] < cg["auroc"]
    # its importance is recomputed with the store's head, not copied from the importance file
    assert rnd["importance"]["by_category"]["defining"]["mean_importance"] != 50.0
    assert out["cgap_sub"]["iou"] == cg["iou"]  # one sub-concept per concept: same maps
    md = (tmp_path / "reports/planted/recovery.md").read_text()
    assert "| cgap |" in md and "| random_cgap |" in md
    # the paired baseline over seeds: method vs random_m, sub-concepts vs random_m_sub
    base = out["baseline"]
    assert set(base) == {"cgap", "cgap_sub"}
    assert base["cgap"]["baseline"] == "random_cgap"
    assert base["cgap_sub"]["baseline"] == "random_cgap_sub"
    assert base["cgap"]["n_seeds"] == REPO_RECOVERY["baseline_seeds"]
    assert base["cgap"]["method"] == 1.0 and base["cgap"]["n_images"] == 6
    if base["cgap"]["paired_n"]:
        assert base["cgap"]["paired_diff"] >= 0
    # every concept has two channels (one part each): size cannot separate anything
    assert cg["importance"]["size_auroc"] == 0.5
    assert "paired" in md and "| random_cgap_sub |" in md and "Size confound" in md
    # claims with intervals: perfect concepts point at every part and the top concept defines
    claims = base["cgap"]["claims"]
    assert set(claims) == {"pointing", "iou", "top_defining"}
    pt = claims["pointing"]
    assert pt["method"]["mean"] == 1.0 and pt["method"]["lo"] == 1.0
    assert pt["difference"]["mean"] == pytest.approx(1.0 - pt["baseline"]["mean"])
    assert pt["difference"]["verdict"] in {"holds", "tie"}
    assert claims["top_defining"]["method"]["mean"] == 1.0
    assert "Claims against the random baseline, with 95 % intervals" in md
    assert "**holds**" in md or "**tie**" in md
    per_part = json.loads((tmp_path / "reports/planted/recovery_per_part.json").read_text())
    assert set(per_part["cgap"]) <= set(PARTS)


def test_recovery_stage_refuses_cropped_store(tmp_path, monkeypatch):
    from jaxconcepts.stages import recovery

    monkeypatch.chdir(tmp_path)
    _setup(tmp_path, crop_pct=0.875)
    with pytest.raises(ValueError, match="crop_pct"):
        recovery.main(["--dataset", "planted"])


@pytest.mark.slow
def test_recovery_stage_on_objects_scores_every_image_and_the_recognition(tmp_path, monkeypatch):
    """objects: the head explains its own 1000 ImageNet classes, the truth's labels are the
    object classes; every image is scored for importance, and the per-class recognition of the
    head against each class's synsets is written."""
    from jaxconcepts.datasets import ObjectsConfig, write_objects
    from jaxconcepts.store import HeadParams, StoreWriter, imagenet_synsets
    from jaxconcepts.stages import recovery

    monkeypatch.chdir(tmp_path)
    write_objects(tmp_path / "data/obj/images", tmp_path / "data/obj/prepare",
                  ObjectsConfig(image_size=32, classes=("cat", "astronaut"), n_test=3),
                  seed=0, progress=False)
    truth = load_truth(tmp_path / "data/obj/prepare/truth", "test")
    n, C = len(truth.files), 4
    obj = (truth.part_map >= 0).astype(np.float32).reshape(n, 8, 4, 8, 4).mean((2, 4))
    acts = np.stack([obj, obj, 1 - obj, 1 - obj], 1)  # channels 0-1 on the object, 2-3 off it
    tabby = imagenet_synsets().index("n02123045")
    weight = np.zeros((1000, C), np.float32)
    weight[tabby, :2] = 50.0  # the object's channels vote tabby
    logits = acts.mean((-2, -1)) @ weight.T
    pred = logits.argmax(1)
    images = [{"index": i, "path": f, "label": int(truth.label[i])}
              for i, f in enumerate(truth.files)]
    with StoreWriter(tmp_path / "data/obj/activations", shard_size=4) as w:
        w.add(activations=acts, logits=logits, target=pred, label=truth.label, pred=pred,
              prob=np.ones(n), index=np.arange(n))
        w.finish({"images": images, "shape": [C, 8, 8], "preprocessing": {"crop_pct": 1.0},
                  "format": 2, "model": "toy"}, HeadParams(weight, np.zeros(1000, np.float32)))
    labels = np.tile(np.array([0, 0, 1, 1], np.int32), (n, 1))  # concept 0 = object, 1 = rest
    one = dict(process_index=0, process_count=1, store_images=n)
    write_part(tmp_path / "data/obj/concepts",
               {"cgap_labels": labels, "cgap_sub_labels": np.zeros_like(labels),
                "index": np.arange(n, dtype=np.int32)}, {}, **one)
    imp = np.tile(np.array([80.0, 5.0], np.float32), (n, 1))
    write_part(tmp_path / "data/obj/importance",
               {"cgap_importance": imp, "cgap_sub_importance": imp[..., None],
                "p_t": np.ones(n, np.float32), "target": pred.astype(np.int32),
                "index": np.arange(n, dtype=np.int32)}, {}, **one)
    write_params(tmp_path / "params.yaml", seed=0, datasets={"obj": {}},
                 recovery={"methods": ["cgap"], "batch_size": 4, "sub_concepts": False})
    recovery.main(["--dataset", "obj"])
    out = json.loads((tmp_path / "reports/obj/recovery.json").read_text())
    assert out["cgap"]["n_target_not_label"] == 0  # pred (ImageNet) never equals the label
    top = out["baseline"]["cgap"]["claims"]["top_defining"]
    assert top["method"]["n"] == n and top["method"]["mean"] == 1.0  # the object's concept
    cat, astro = out["recognition"]
    assert cat["class"] == "cat" and cat["top1"]["mean"] == 1.0 and cat["status"] == "recognised"
    assert astro["status"] == "not an ImageNet class" and astro["top1"] is None
    md = (tmp_path / "reports/obj/recovery.md").read_text()
    assert "recognise the objects" in md and "| cat | 3 |" in md
