"""The ``c2mf`` stage end to end on a small fake activation store."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from jaxconcepts._io import load_arrays
from jaxconcepts.evaluation import split_by_image
from jaxconcepts.store import HeadParams, StoreWriter
from jaxconcepts.stages import c2mf as stage
from PIL import Image

REPO = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())

C, H, W, K_HEAD = 16, 4, 4, 5


def _write_store(root, counts=(6, 6, 6, 1), seed=0, labelled=False, hw=(H, W), images=False):
    """Images of class c light up a class-specific set of channels; class 3 has one image."""
    h, w = hw
    rng = np.random.default_rng(seed)
    n = sum(counts)
    cls = np.repeat(np.arange(len(counts)), counts).astype(np.int32)
    A = 0.05 * rng.random((n, C, h, w)).astype(np.float32)
    for i, c in enumerate(cls):
        chans = [(3 * c + j) % C for j in range(4)]
        A[i, chans] += rng.random((4, h, w)).astype(np.float32) + 0.5
    weight = np.zeros((K_HEAD, C), np.float32)
    for c in range(len(counts)):
        weight[c, [(3 * c + j) % C for j in range(4)]] = 2.0
    bias = np.zeros(K_HEAD, np.float32)
    logits = A.mean((2, 3)) @ weight.T + bias
    pred = logits.argmax(1).astype(np.int32)
    label = cls if labelled else np.full(n, -1, np.int32)
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob = (prob.max(1) / prob.sum(1)).astype(np.float32)
    path = root / "data" / "fake" / "activations"
    if images:  # real files for the atlas (the model's view of each image)
        from PIL import Image

        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
                root / f"img{i}.png")
    with StoreWriter(path, shard_size=7) as sw:
        sw.add(activations=A, logits=logits, target=pred, label=label, pred=pred, prob=prob,
              index=np.arange(n, dtype=np.int32))
        sw.finish({"model": "fake", "shape": [C, h, w], "class_names": None,
                  "images": [{"index": i, "path": f"img{i}.png", "label": int(label[i]),
                              "label_name": None, "sha256": ""} for i in range(n)],
                  "head": {"kind": "gap_linear", "num_classes": K_HEAD},
                  "preprocessing": {"input_size": [3, 16, 16], "crop_pct": 1.0}},
                 HeadParams(weight, bias))
    return pred


def _finite(x):
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    if isinstance(x, list):
        return all(_finite(v) for v in x)
    if isinstance(x, float):
        return math.isfinite(x)
    return True


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pred = _write_store(tmp_path)
    return tmp_path, pred


@pytest.mark.slow
def test_stage_end_to_end_reports_small_classes_and_planted_truth(tmp_path, monkeypatch,
                                                                  c2mf_params):
    monkeypatch.chdir(tmp_path)
    root = tmp_path
    _write_planted(root)
    c2mf_params(root, k=[3], sobol_designs=64)  # the estimator's noise shrinks with the designs
    stage.main(["--dataset", "fake"])
    m = json.loads((root / "reports/fake/c2mf.json").read_text())
    assert _finite(m)
    assert set(m["results"]) == {"c2mf", "craft", "pca"}
    # class 3 has one image: reported, not fitted
    small = [c["class"] for c in m["too_small_classes"]]
    assert small == [3] and [c["class"] for c in m["classes"]] == [0, 1, 2]
    assert [c["name"] for c in m["classes"]] == ["a", "b", "c"]
    assert len(m["classes"]) == 3 and m["n_test_images"] + m["n_train_images"] == 18
    # 4 train images per class x 16 positions = 64 rows per class; C = 16 channels
    assert m["k_caps"] == {"c2mf": 16, "craft": 16, "pca": 16}
    for meth in ("c2mf", "craft", "pca"):
        e3 = m["results"][meth]["k3"]
        assert e3["k_used"] == 3 and not e3["capped"]
        r = e3["reconstruction"]
        assert 0.0 <= r["acc_pred_mean"] <= 1.0 and 0.0 <= r["acc_label_mean"] <= 1.0
        assert set(r["acc_pred_per_class"]) <= {str(c["class"]) for c in m["classes"]}
        idl = e3["insertion_deletion"]
        for key in ("insertion_gradcam_mean", "deletion_gradcam_mean", "insertion_ig_mean"):
            assert 0.0 <= idl[key] <= 1.0
        assert len(idl["insertion_ig_curve"]) == 4  # k + 1 steps
        c = e3["consistency"]
        assert c["train_mse"] >= 0 and math.isclose(c["difference"], c["test_mse"] - c["train_mse"],
                                                    rel_tol=1e-6, abs_tol=1e-9)
    # each class has its own part: reconstructions keep most predictions
    assert m["results"]["craft"]["k3"]["reconstruction"]["acc_pred_mean"] >= 2 / 3
    # PCA components are orthogonal within a class
    assert m["results"]["pca"]["k3"]["similarity"]["cosine_mean"] < 1e-4
    # Fig. 4's n: the k fitted and the number of classes (3 here); PCA is in the ablation too
    ab = m["ablation"]
    assert ab["n_concepts"] == [3] and ab["n_classes"] == 3
    assert len(ab["craft_clustered"]) == 1 and len(ab["pca_clustered"]) == 1
    # CRAFT's own importance: Sobol total indices per class, in [0, ~1]
    sob = m["results"]["craft"]["k3"]["sobol_total_indices"]
    assert set(sob) == {"a", "b", "c"} and all(len(v) == 3 for v in sob.values())
    assert all(-1e-6 <= x <= 1.5 for v in sob.values() for x in v)
    # Figs. 2-4 are written and linked from the Markdown
    figs = root / "reports/fake/c2mf_figures"
    assert sorted(p.name for p in figs.iterdir()) == [
        "fig2_insertion_deletion_gradcam.png", "fig3_insertion_deletion_ig.png",
        "fig4_ablation.png"]
    md_text = (root / "reports/fake/c2mf.md").read_text()
    assert "](c2mf_figures/fig4_ablation.png)" in md_text
    assert "naming_accuracy" not in m  # a planted truth has no objects to name
    pl = m["planted"]  # ground truth at data/fake/prepare/truth
    assert pl is not None and pl["n_images"] == m["n_test_images"]
    for meth in ("c2mf", "craft", "pca"):
        sc = pl["results"][meth]["k3"]
        assert all(0.0 <= sc[key] <= 1.0 for key in ("precision", "recall", "matched_fraction"))
    # per-class NMF with k=3 on images made of exactly the recipe's two parts finds both
    assert pl["results"]["craft"]["k3"]["recall"] == 1.0
    arrays = load_arrays(root / "data/fake/c2mf/dictionaries.safetensors")
    assert arrays["c2mf_k3_W"].shape == (3, C) and arrays["c2mf_k3_gates"].shape == (3, 3)
    assert arrays["craft_k3_W"].shape == (3, 3, C) and arrays["pca_k3_mean"].shape == (3, C)
    assert all(np.all(np.isfinite(v)) for v in arrays.values())
    assert sorted(arrays["classes"].tolist()) == sorted(c["class"] for c in m["classes"])
    with open(root / "reports/fake/c2mf_loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert (set(rows[0]) == {"step", "k3"}
            and len(rows) == m["results"]["c2mf"]["k3"]["solver"]["n_steps"])
    assert all(math.isfinite(float(r["k3"])) for r in rows)
    md = (root / "reports/fake/c2mf.md").read_text()
    assert "Table 1" in md and "Table 2" in md and "Table 3" in md
    assert "left out of the split metrics" in md and "Planted ground truth" in md
    # 2 test images per class: no per-class mean ± std is printed from so few images
    assert {c["n_test"] for c in m["classes"]} == {2}
    t2 = md.split("### Table 2")[1].split("###")[0]
    assert "Not supported by this dataset" in t2 and not re.search(r"\d ± \d", t2)
    assert "Not supported by this dataset" in md.split("### Multi-class ablation")[1]
    _check_controls(m, md)


CONTROL_LABELS = {"pca_no_mean": "PCA (no class mean)",
                  "c2mf_uniform_gates": "C2MF (uniform gates)",
                  "c2mf_other_gates": "C2MF (other class's gates)",
                  "random_c2mf": "random (C2MF shape)", "random_craft": "random (CRAFT shape)",
                  "random_pca": "random (PCA shape)"}


def _check_controls(m, md):
    """The test-time controls: rows of c2mf.json's ``controls`` and of the Markdown tables."""
    from jaxconcepts.report import markdown_report

    ctl = m["controls"]
    assert set(ctl) == set(CONTROL_LABELS)  # at the k of c2mf.controls
    assert all("k40" not in c["results"] for c in ctl.values())  # only there
    for name, label in CONTROL_LABELS.items():
        c = ctl[name]
        assert c["label"] == label and c["tells"] and c["of"] in m["results"]
        e = c["results"]["k3"]
        assert e["k_used"] == 3 and not e["capped"]
        assert 0.0 <= e["reconstruction"]["acc_pred_mean"] <= 1.0
        assert set(e["consistency"]) == {"test_mse", "test_class_mean", "test_class_std"}
        assert 0.0 <= e["insertion_deletion"]["insertion_gradcam_mean"] <= 1.0
        # Table 1 for the random dictionaries only (the others keep the fitted concepts)
        assert (e["similarity"] is not None) == name.startswith("random_")
        assert f"| {label} | 3 |" in md.split("### Table 3")[1]  # Table 3 and insertion/deletion
    t1 = md.split("### Table 1")[1].split("### Table 2")[0]
    assert "| random (C2MF shape) | 3 |" in t1 and "uniform gates" not in t1
    # the fitted dictionaries reconstruct their own test rows better than random atoms
    for meth in ("c2mf", "craft", "pca"):
        assert (ctl[f"random_{meth}"]["results"]["k3"]["consistency"]["test_mse"]
                > m["results"][meth]["k3"]["consistency"]["test_mse"])
    # the class mean carries PCA's reconstruction: left out, the test error grows
    assert (ctl["pca_no_mean"]["results"]["k3"]["consistency"]["test_mse"]
            > m["results"]["pca"]["k3"]["consistency"]["test_mse"])
    assert "What each control tells" in md and all(f"- **{lab}**" in md
                                                   for lab in CONTROL_LABELS.values())
    # with enough test images per class, Table 2 prints each control beside its fitted method
    for c in m["classes"]:
        c["n_test"] = 3
    t2 = markdown_report(m).split("### Table 2")[1].split("### Table 3")[0]
    for name, label in CONTROL_LABELS.items():
        e = ctl[name]["results"]["k3"]
        own = m["results"][ctl[name]["of"]]["k3"]["reconstruction"]
        assert (f"| {label} | 3 | {100 * e['reconstruction']['acc_pred_mean']:.1f} ± " in t2
                and f"| {100 * own['acc_pred_mean']:.1f} ± " in t2)
    # planted truth: C2MF's recipe recall across k, with the open gates per class
    assert "#### C2MF recipe recall across k" in md
    assert m["planted"]["results"]["c2mf"]["k3"]["n_active_mean"] >= 0


@pytest.mark.slow
def test_k_too_large_is_capped_and_recorded(fake, c2mf_params):
    root, _ = fake
    c2mf_params(root, k=[3, 40, 64], methods=["pca"])
    stage.main(["--dataset", "fake"])
    m = json.loads((root / "reports/fake/c2mf.json").read_text())
    e3, e40, e64 = (m["results"]["pca"][f"k{k}"] for k in (3, 40, 64))
    assert (e3["k_used"], e3["capped"]) == (3, False)
    assert (e40["k_used"], e40["capped"], e64["k_used"]) == (16, True, 16)
    assert e40["reconstruction"] == e64["reconstruction"]  # one fit serves both
    assert e3["reconstruction"]["acc_label_mean"] is None  # the fake store has no labels
    assert m["planted"] is None  # no ground truth for this dataset
    assert (load_arrays(root / "data/fake/c2mf/dictionaries.safetensors")["pca_k16_W"].shape
            == (3, 16, C))
    assert "capped from 40" in (root / "reports/fake/c2mf.md").read_text()
    assert m["ablation"] == {"note": "needs c2mf and CRAFT or PCA in c2mf.methods"}


def test_split_is_by_image_seeded_and_per_class():
    cls = np.array([0] * 10 + [1] * 3 + [2] * 1)
    s = split_by_image(cls, test_fraction=0.3, min_images=2, seed=1)
    assert s.too_small == [(2, 1)] and s.classes.tolist() == [0, 1]
    assert not set(s.train) & set(s.test)
    assert np.sum(cls[s.test] == 0) == 3 and np.sum(cls[s.test] == 1) == 1
    again = split_by_image(cls, test_fraction=0.3, min_images=2, seed=1)
    assert np.array_equal(s.test, again.test)
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_image(cls, test_fraction=1.0, min_images=2, seed=0)


def test_k_beyond_the_data_is_an_error_when_not_capped(fake, c2mf_params):
    root, _ = fake
    c2mf_params(root, k=[40], cap_k=False, methods=["pca"])
    with pytest.raises(ValueError, match=r"c2mf.k=40 is larger than the data support for pca"):
        stage.main(["--dataset", "fake"])
    assert not (root / "reports/fake/c2mf.json").exists()


def test_no_feasible_k_is_a_clear_error(tmp_path, monkeypatch, c2mf_params):
    """1x1 maps and one train image per class: PCA needs k <= n_y - 1 = 0 in every class."""
    monkeypatch.chdir(tmp_path)
    _write_store(tmp_path, counts=(2, 2, 2), hw=(1, 1))
    c2mf_params(tmp_path, k=[2], methods=["pca"])
    with pytest.raises(ValueError, match="no k in c2mf.k=.* is feasible"):
        stage.main(["--dataset", "fake"])
    c2mf_params(tmp_path, k=[0])
    with pytest.raises(ValueError, match="positive ints"):
        stage.main(["--dataset", "fake"])
    c2mf_params(tmp_path, bogus=1)
    with pytest.raises(ValueError, match=r"'c2mf': unknown keys \['bogus'\]; valid keys"):
        stage.main(["--dataset", "fake"])
    c2mf_params(tmp_path, drop=("alpha",))  # params.yaml is the only home of values: no fallback
    with pytest.raises(ValueError, match=r"'c2mf': missing keys \['alpha'\]"):
        stage.main(["--dataset", "fake"])


def test_no_class_with_enough_images_still_writes_outputs(tmp_path, monkeypatch, c2mf_params):
    monkeypatch.chdir(tmp_path)
    _write_store(tmp_path, counts=(1, 1, 1))
    c2mf_params(tmp_path)
    stage.main(["--dataset", "fake"])
    m = json.loads((tmp_path / "reports/fake/c2mf.json").read_text())
    assert m["results"] == {} and "no class with enough images" in m["note"]
    assert len(m["too_small_classes"]) == 3
    assert "no class with enough images" in (tmp_path / "reports/fake/c2mf.md").read_text()
    assert (tmp_path / "reports/fake/c2mf_loss.csv").read_text().strip() == "step"
    assert load_arrays(tmp_path / "data/fake/c2mf/dictionaries.safetensors")["classes"].size == 0


@pytest.mark.slow
def test_nan_loss_stops_with_the_step_and_writes_nothing(fake, monkeypatch, c2mf_params):
    root, _ = fake
    c2mf_params(root, k=[3], methods=["c2mf"], learning_rate=float("nan"))
    with pytest.raises(FloatingPointError, match="pass 0"):
        stage.main(["--dataset", "fake"])
    assert not (root / "reports/fake").exists() and not (root / "data/fake/c2mf").exists()


def _write_planted(root, n_per_class=6, seed=0):
    """Recipes {c, 3} for classes c = 0, 1, 2 (``n_per_class`` images each) and {3} for class 3
    (one image); part q lights channels 4q..4q+3 on its quadrant of a 4x4 map; 16x16 part maps."""
    rng = np.random.default_rng(seed)
    cls = np.repeat(np.arange(4), [n_per_class] * 3 + [1]).astype(np.int32)
    n = cls.size
    A = 0.02 * rng.random((n, C, 4, 4)).astype(np.float32)
    part_map = np.full((n, 16, 16), -1, np.int8)
    present = np.zeros((n, 4), bool)
    for i, c in enumerate(cls):
        quads = rng.permutation(4)[:2]
        for q, part in zip(quads, (c, 3) if c < 3 else (3,)):
            r0, c0 = 2 * (q // 2), 2 * (q % 2)
            A[i, 4 * part:4 * part + 4, r0:r0 + 2, c0:c0 + 2] += 1.0 + 0.2 * rng.random((4, 2, 2))
            part_map[i, 4 * r0:4 * r0 + 8, 4 * c0:4 * c0 + 8] = part
            present[i, part] = True
    weight = np.zeros((K_HEAD, C), np.float32)
    for c in range(4):
        weight[c, 4 * c:4 * c + 4] = 2.0 if c < 3 else 1.0
    bias = np.zeros(K_HEAD, np.float32)
    logits = A.mean((2, 3)) @ weight.T
    pred = logits.argmax(1).astype(np.int32)
    assert np.array_equal(pred, cls)
    files = [f"{c:02d}_k/test_{i:05d}.png" for i, c in enumerate(cls)]
    with StoreWriter(root / "data/fake/activations") as sw:
        sw.add(activations=A, logits=logits, target=cls, label=cls, pred=pred,
               prob=np.ones(n, np.float32), index=np.arange(n, dtype=np.int32))
        # a head trained on its classes has one name per output (labels are head outputs)
        sw.finish({"model": "fake", "shape": [C, 4, 4],
                   "class_names": ["a", "b", "c", "d", "e"][:K_HEAD],
                   "images": [{"index": i, "path": f"data/fake/images/{f}", "label": int(cls[i]),
                               "label_name": None, "sha256": ""} for i, f in enumerate(files)],
                   "head": {"kind": "gap_linear", "num_classes": K_HEAD}},
                  HeadParams(weight, bias))
    truth = root / "data/fake/prepare/truth"
    truth.mkdir(parents=True)
    (truth / "truth.json").write_text(json.dumps({
        "parts": ["p0", "p1", "p2", "p3"], "classes": ["a", "b", "c", "d"],
        "recipes": [[0, 3], [1, 3], [2, 3], [3]],
        "images": {"test": [{"file": f} for f in files]}}))
    np.savez(truth / "test.npz", part_map=part_map, label=cls, present=present, defining=present)



def _write_crops(root, n_crops=4, seed=1):
    """Crop rows that look like their image's class (class c lights channels of class c)."""
    from jaxconcepts.store import CROP_FIELDS, ActivationStore, write_crop_store

    store = ActivationStore(root / "data/fake/activations")
    A = np.concatenate([b["activations"] for b in store.iter_batches(64, fields=("activations",),
                                                                     as_jax=False)])
    rng = np.random.default_rng(seed)
    crops = A.mean((2, 3))[:, None, :] * (0.5 + rng.random((len(A), n_crops, 1)))
    write_crop_store(root / "data/fake/crops", crops, shard_size=5,
                     **{k: store.read(k, dtype=np.int32) for k in CROP_FIELDS})
    return crops


@pytest.mark.slow
def test_craft_fits_on_crops_when_the_crops_stage_ran(fake, c2mf_params):
    root, _ = fake
    c2mf_params(root, k=[3, 40], methods=["c2mf", "craft"], craft_source="crops",
                 split_seeds=[0, 1, 2])
    with pytest.raises(FileNotFoundError, match="jaxconcepts crops --dataset fake"):
        stage.main(["--dataset", "fake"])
    assert not (root / "reports/fake/c2mf.json").exists()
    _write_crops(root, n_crops=4)
    stage.main(["--dataset", "fake"])
    m = json.loads((root / "reports/fake/c2mf.json").read_text())
    assert "4 random crops per train image" in m["craft_rows"]
    # CRAFT's cap is its crop rows: 4 train images x 4 crops = 16 per class
    assert m["k_caps"]["craft"] == 16 and m["results"]["craft"]["k40"]["k_used"] == 16
    # the crops' W reconstructs the full-image rows it never saw (codes by NNLS on test rows)
    assert m["results"]["craft"]["k3"]["reconstruction"]["acc_pred_mean"] >= 2 / 3
    # ablation n = the k fitted (3, 16) and the number of classes (3)
    assert m["ablation"]["n_concepts"] == [3, 16] and "pca_clustered" not in m["ablation"]
    # Table 3: CRAFT's MSE on its own crops beside its MSE on the full train and test images
    c3 = m["results"]["craft"]["k3"]["consistency"]
    assert 0 <= c3["train_mse_own_rows"] and "train_mse_own_rows" not in \
        m["results"]["c2mf"]["k3"]["consistency"]
    md = (root / "reports/fake/c2mf.md").read_text()
    t3 = md.split("### Table 3")[1].split("###")[0]
    assert "own fit rows" in t3 and f"{c3['train_mse_own_rows']:.4g}" in t3
    # 6 images per class -> 2 test images each: Table 2 says the data cannot support it
    assert "Not supported by this dataset" in md.split("### Table 2")[1].split("###")[0]
    # CRAFT on crops gets its control refitted on full-image rows: another dictionary
    rows_ctl = m["controls"]["craft_rows"]
    assert rows_ctl["of"] == "craft" and rows_ctl["results"]["k3"]["similarity"] is not None
    assert "| CRAFT (full-image rows) | 3 |" in md.split("### Table 3")[1]
    # split seeds: seed 0 is the stage's own run, 1 and 2 refit at k = 3 (the controls' k)
    sp = m["split_seeds"]
    assert sp["seeds"] == [0, 1, 2] and sp["k"] == 3
    acc = sp["per_seed"]["c2mf"]["acc_pred"]
    assert acc[0] == m["results"]["c2mf"]["k3"]["reconstruction"]["acc_pred_mean"]
    assert len(acc) == 3 and len(set(sp["per_seed"]["craft"]["test_mse"])) == 3  # new splits
    iv = sp["summary"]["c2mf"]["test_mse"]
    assert iv["lo"] <= iv["mean"] <= iv["hi"] and iv["n"] == 3
    assert sp["c2mf_beats"]["craft"]["test_mse"]["verdict"] in ("holds", "fails", "tie")
    assert "### Across 3 train/test splits (k = 3)" in md and "| C2MF beats CRAFT" in md


def test_stale_crops_are_an_error(fake, c2mf_params):
    root, _ = fake
    from jaxconcepts.store import write_crop_store

    two = np.arange(2, dtype=np.int32)
    write_crop_store(root / "data/fake/crops", np.zeros((2, 4, C), np.float32), index=two,
                     pred=two, target=two, label=two)
    c2mf_params(root, k=[3], methods=["craft"], craft_source="crops")
    with pytest.raises(ValueError, match="stale crops"):
        stage.main(["--dataset", "fake"])


@pytest.mark.slow
def test_atlas_naming_recipes_and_alpha_sweep(tmp_path, monkeypatch, c2mf_params):
    monkeypatch.chdir(tmp_path)
    _write_store(tmp_path, images=True)
    c2mf_params(tmp_path, k=[3], atlas_k=3, alpha_sweep=[0.0, 1e6], sweep_k=3,
                 naming={**REPO["naming"], "top": 8})
    stage.main(["--dataset", "fake"])
    out = tmp_path / "reports/fake"
    md = (out / "c2mf_atlas.md").read_text()
    for m in ("c2mf", "craft", "pca"):
        assert f"(c2mf_figures/atlas_{m}.png)" in md and f"(c2mf_figures/gates_{m}.png)" in md
        assert (out / "c2mf_figures" / f"atlas_{m}.png").stat().st_size > 1000
    assert "| C0 |" in md and "Recipes" in md and "open concepts" in md
    # names come from the head's classes ("class i": the fake store has no class names)
    assert re.search(r"\| C\d \| class \d \(\d\.\d\d\)", md)
    # the per-class baselines' concepts are named <class>/<j> and used by their class only
    assert re.search(r"\| \d/\d \| class", md)
    rows = json.loads((out / "c2mf_alpha_sweep.json").read_text())["rows"]
    assert [r["alpha"] for r in rows] == [0.0, 1e6] and rows[0]["k"] == 3
    assert rows[1]["frac_open"] <= rows[0]["frac_open"]  # a huge penalty closes gates
    sweep_md = (out / "c2mf_alpha_sweep.md").read_text()
    assert "| 1e+06 |" in sweep_md and "(c2mf_figures/alpha_sweep.png)" in sweep_md
    assert "What is solved" in (out / "c2mf.md").read_text()
    # no objects truth: no name accuracy
    assert "naming_accuracy" not in json.loads((out / "c2mf.json").read_text())
    assert "Name accuracy" not in md


def test_disabled_dataset_says_why(tmp_path, monkeypatch, c2mf_params):
    monkeypatch.chdir(tmp_path)
    _write_store(tmp_path, counts=(1, 1, 1, 1))
    c2mf_params(tmp_path, enabled=False)
    stage.main(["--dataset", "fake"])
    out = tmp_path / "reports/fake"
    md = (out / "c2mf.md").read_text()
    assert "not supported on this dataset: 4 images in 4 classes (1.0 per class)" in md
    assert json.loads((out / "c2mf.json").read_text())["enabled"] is False
    assert (out / "c2mf_figures/NONE.txt").is_file() and not list(out.glob("c2mf_figures/*.png"))
    assert "off" in (out / "c2mf_alpha_sweep.md").read_text()
    assert load_arrays(tmp_path / "data/fake/c2mf/dictionaries.safetensors")["classes"].size == 0


# --- a labelled folder of 4 classes under a pretrained 1000-output head (the papers' setting) ---

FOLDERS = ("ant", "bee", "cat", "dog")
K_IMAGENET = 1000
HEAD_OF = (407, 3, 912, 250)  # the head output each folder's images light (not 0..3)


def _write_folder_store(root, counts=(6, 6, 6, 6), seed=0, labelled=True, images=True,
                        use_label_as_target=False, class_names=FOLDERS, n_unlabelled=0):
    """A ``<class>/<image>`` folder of 4 classes (labels 0..3, sorted folder names) explained by a
    GAP + linear head with 1000 outputs: folder class c lights channels 4c..4c+3 and the head's
    output ``HEAD_OF[c]`` reads them, so a folder label is never its images' head index. The last
    ``n_unlabelled`` images lie outside the class folders (label -1)."""
    rng = np.random.default_rng(seed)
    n = sum(counts)
    cls = np.repeat(np.arange(len(counts)), counts).astype(np.int32)
    A = 0.05 * rng.random((n, C, H, W)).astype(np.float32)
    for i, c in enumerate(cls):
        A[i, 4 * c:4 * c + 4] += rng.random((4, H, W)).astype(np.float32) + 0.5
    weight = 0.01 * rng.standard_normal((K_IMAGENET, C)).astype(np.float32)
    for c in range(len(counts)):
        weight[HEAD_OF[c], 4 * c:4 * c + 4] = 2.0
    bias = np.zeros(K_IMAGENET, np.float32)
    logits = A.mean((2, 3)) @ weight.T + bias
    pred = logits.argmax(1).astype(np.int32)
    assert np.array_equal(pred, np.asarray(HEAD_OF)[cls])
    label = cls.copy() if labelled else np.full(n, -1, np.int32)
    label[n - n_unlabelled:] = -1
    target = np.where((label >= 0) & use_label_as_target, label, pred).astype(np.int32)
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob = (prob.max(1) / prob.sum(1)).astype(np.float32)
    files = [f"{FOLDERS[c]}/img{i}.png" if label[i] >= 0 else f"img{i}.png"
             for i, c in enumerate(cls)]
    if images:
        for f in files:
            (root / f).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f)
    with StoreWriter(root / "data/fake/activations", shard_size=7) as sw:
        sw.add(activations=A, logits=logits, target=target, label=label, pred=pred, prob=prob,
               index=np.arange(n, dtype=np.int32))
        sw.finish({"model": "fake", "shape": [C, H, W],
                   "class_names": list(class_names) if labelled and class_names else None,
                   "use_label_as_target": use_label_as_target,
                   "images": [{"index": i, "path": f, "label": int(label[i]),
                               "label_name": FOLDERS[cls[i]] if label[i] >= 0 else None,
                               "sha256": ""}
                              for i, f in enumerate(files)],
                   "head": {"kind": "gap_linear", "num_classes": K_IMAGENET},
                   "preprocessing": {"input_size": [3, 16, 16], "crop_pct": 1.0}},
                  HeadParams(weight, bias))
    return cls, pred


def _write_objects_truth(root, cls):
    """An ``objects`` truth for the folder store (each image is its object). Accepted synsets: ant
    every output the store's classes light (its top concept is named by one of them: a hit), bee
    tench (output 0, which no class lights: a miss), cat none (not counted), dog its own output."""
    from jaxconcepts.store import imagenet_synsets

    syn = imagenet_synsets()
    files = [f"{FOLDERS[c]}/img{i}.png" for i, c in enumerate(cls)]
    wnids = [[syn[o] for o in HEAD_OF], [syn[0]], [], [syn[HEAD_OF[3]]]]
    truth = root / "data/fake/prepare/truth"
    truth.mkdir(parents=True)
    (truth / "truth.json").write_text(json.dumps({
        "dataset": "objects", "parts": list(FOLDERS), "classes": list(FOLDERS),
        "class_folders": list(FOLDERS), "recipes": [[c] for c in range(len(FOLDERS))],
        "objects": [{"class": f, "wnids": w} for f, w in zip(FOLDERS, wnids)],
        "images": {"test": [{"file": f} for f in files]}}))
    onehot = np.eye(len(FOLDERS), dtype=bool)[cls]
    np.savez(truth / "test.npz", part_map=np.broadcast_to(cls[:, None, None], (cls.size, 16, 16))
             .astype(np.int8), label=cls, present=onehot, defining=onehot)


@pytest.mark.slow
def test_folder_classes_under_a_1000_output_head_run_end_to_end(tmp_path, monkeypatch, c2mf_params):
    """4 folder classes, a 1000-output head, ``labels: label``: C2MF's classes are the folders
    (gates, split, per-class accuracy, recipes); the head keeps its 1000 outputs. With an
    ``objects`` truth the atlas's names are scored against each object's accepted synsets."""
    monkeypatch.chdir(tmp_path)
    cls, _ = _write_folder_store(tmp_path)
    _write_objects_truth(tmp_path, cls)
    c2mf_params(tmp_path, k=[3], labels="label", atlas_k=3, alpha_sweep=[0.0], sweep_k=3)
    stage.main(["--dataset", "fake"])
    out = tmp_path / "reports/fake"
    m = json.loads((out / "c2mf.json").read_text())
    assert _finite(m)
    assert [c["class"] for c in m["classes"]] == [0, 1, 2, 3]
    assert [c["name"] for c in m["classes"]] == list(FOLDERS)
    arrays = load_arrays(tmp_path / "data/fake/c2mf/dictionaries.safetensors")
    assert arrays["c2mf_k3_gates"].shape == (4, 3)  # one gate row per folder class
    for meth in ("c2mf", "craft", "pca"):
        e = m["results"][meth]["k3"]
        r = e["reconstruction"]
        # per folder class; agreement with the model's own prediction (a head output)
        assert set(r["acc_pred_per_class"]) == {"0", "1", "2", "3"}
        assert r["acc_pred_mean"] >= 0.75
        # folder labels are not head outputs: no accuracy against them is defined
        assert r["acc_label_mean"] is None and r["acc_label_per_class"] == {}
        # insertion/deletion explain the head's predicted output (HEAD_OF[c]), not output c:
        # with every concept in, its probability among 1000 outputs is far above 1/1000 (reading
        # output c, a folder label taken as a head index, gave ~1e-3)
        idl = e["insertion_deletion"]
        assert idl["insertion_gradcam_curve"][-1] > 0.1 and idl["insertion_ig_curve"][-1] > 0.1
    md = (out / "c2mf_atlas.md").read_text()
    assert "| ant |" in md and "| dog |" in md  # recipes per folder class
    assert "Recipes" in md
    # name accuracy: cat has no synset (3 classes count); ant's top concept is named by an output
    # its class lights (a hit), bee's never by tench
    acc = m["naming_accuracy"]
    assert acc["note"] is None and acc["unmatched"] == []
    assert set(acc["methods"]) == {"c2mf", "craft", "pca"}
    for meth, r in acc["methods"].items():
        assert r["k"] == 3 and r["top1"]["n_classes"] == r["top3"]["n_classes"] == 3
        assert r["top1"]["chance"] == pytest.approx((4 + 1 + 1) / 1000 / 3)
        pc = {p["class"]: p for p in r["per_class"]}
        assert pc["ant"]["hit_top1"] is True and pc["bee"]["hit_top1"] is False, meth
        assert not pc["cat"]["counted"] and pc["cat"]["hit_top1"] is None
        assert r["top1"]["hits"] <= r["top3"]["hits"] <= 3
    assert "### Name accuracy (objects benchmark)" in md and "| cat | – (not counted) |" in md
    assert m["planted"] is not None  # the objects truth also scores atoms against the masks
    rows = json.loads((out / "c2mf_alpha_sweep.json").read_text())["rows"]
    assert rows[0]["acc_pred"] >= 0.75 and rows[0]["acc_label"] is None


def _no_work(monkeypatch):
    """Building h (a torch model for a non-linear head) is the first work: fail if reached."""
    from jaxconcepts.runners import _c2mf as _c2mf_run

    def boom(*a, **k):
        raise AssertionError("the check should have failed before building the head")

    monkeypatch.setattr(_c2mf_run, "store_head", boom)


@pytest.mark.parametrize("case, store_kw, c2mf_kw, match", [
    ("unlabelled store", dict(labelled=False), dict(labels="label"),
     r"c2mf.labels='label' but no image of this store has a label .* set c2mf.labels: pred"),
    ("partly labelled folder", dict(n_unlabelled=2), dict(labels="label"),
     r"c2mf.labels='label': 2 of 24 images have no label and its 4 folder classes are not the "
     r"head's 1000 outputs .* set c2mf.labels: pred"),
    ("folder labels as targets", dict(use_label_as_target=True), dict(labels="target"),
     r"c2mf.labels='target': .*extract.use_label_as_target: true.* set c2mf.labels: label"),
    ("a folder class too small", dict(counts=(6, 6, 6, 1)), dict(labels="label"),
     r"folder class\(es\) 'dog' \(1 image\) have fewer than c2mf.min_images=2 images.* lower "
     r"c2mf.min_images"),
    ("k too large", dict(), dict(labels="label", k=[40], cap_k=False),
     r"c2mf.k=40 is larger than the data support .* lower k or set c2mf.cap_k: true"),
])
def test_impossible_params_x_store_fail_before_any_work(tmp_path, monkeypatch, case, store_kw,
                                                         c2mf_kw, match, c2mf_params):
    monkeypatch.chdir(tmp_path)
    _write_folder_store(tmp_path, images=False, **store_kw)
    c2mf_params(tmp_path, **c2mf_kw)
    _no_work(monkeypatch)
    with pytest.raises(ValueError, match=match):
        stage.main(["--dataset", "fake"])
    assert not (tmp_path / "reports/fake").exists()


def test_labels_that_are_head_outputs_keep_their_classes(tmp_path):
    """Synset folders (labels are ImageNet indices, no class_names) and a model trained on its
    folders (one name per output) are head outputs: a class is explained as itself. Folder classes
    of another vocabulary explain the head's prediction and have no label accuracy."""
    from jaxconcepts.evaluation import load_image_rows
    from jaxconcepts.store import ActivationStore

    cls, pred = _write_folder_store(tmp_path, images=False, class_names=FOLDERS)
    folder = load_image_rows(ActivationStore(tmp_path / "data/fake/activations"), labels="label")
    assert folder.space == "folder"
    np.testing.assert_array_equal(folder.cls, cls)  # C2MF classes: the folders
    np.testing.assert_array_equal(folder.target, pred)  # explained: the head's prediction
    assert (folder.head_label == -1).all()
    for names in (None, [f"c{i}" for i in range(K_IMAGENET)]):
        root = tmp_path / f"head{names is None}"
        root.mkdir()
        _write_folder_store(root, images=False, class_names=names)
        rows = load_image_rows(ActivationStore(root / "data/fake/activations"), labels="label")
        assert rows.space == "head"
        np.testing.assert_array_equal(rows.target, cls)
        np.testing.assert_array_equal(rows.head_label, cls)
