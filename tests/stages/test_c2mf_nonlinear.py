"""The ``c2mf`` stage on a store cut at an intermediate block (h = the rest of a torch network), and
the stages a dataset can turn off (``enabled: false``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jaxconcepts.stages import c2mf as stage
from tests.features.conftest import write_image


def _layer3_store(root: Path) -> Path:
    """A labelled 2-class folder through a randomly initialised resnet10t cut at layer3."""
    from jaxconcepts.features import extract, load_model

    for c in ("a", "b"):
        for i in range(5):
            write_image(root / "images" / c / f"{i}.png", size=(36, 32), seed=10 * (c == "b") + i)
    lm = load_model("resnet10t", weights="random", image_size=32, layer="layer3", seed=2,
                    num_classes=4, channels=[8, 16, 32, 32], stem_width=8, output_stride=8)
    out = root / "data" / "fake" / "activations"
    extract(lm, root / "images", out, batch_size=4, shard_size=4, use_label_as_target=True,
            progress=False)
    return out


@pytest.mark.slow
def test_c2mf_stage_runs_through_a_nonlinear_torch_h(tmp_path, monkeypatch, c2mf_params):
    monkeypatch.chdir(tmp_path)
    _layer3_store(tmp_path)
    c2mf_params(tmp_path, k=[2], labels="label", min_images=2, max_steps=5, nmf_max_iter=5,
                ig_steps=2, eval_batch=4, atlas_k=2, alpha_sweep=[0.001], ablation=True,
                ablation_n=[2])
    stage.main(["--dataset", "fake"])
    m = json.loads((tmp_path / "reports/fake/c2mf.json").read_text())
    assert m["head"] == {"kind": "torch", "layer": "layer3"}
    for meth in ("c2mf", "craft", "pca"):
        e = m["results"][meth]["k2"]
        ra = e["ranking_agreement"]
        assert ra["per_image"]["n_images"] == m["n_test_images"]
        assert set(ra["per_class"]) == {"0", "1"}
        d = e["insertion_deletion"]
        assert len(d["insertion_ig_curve"]) == 3 and 0 <= d["insertion_gradcam_mean"] <= 1
    assert m["results"]["craft"]["k2"]["sobol_total_indices"] is None  # needs a linear head
    assert m["ablation"]["n_concepts"] == [2]
    md = (tmp_path / "reports/fake/c2mf.md").read_text()
    assert "Grad-CAM vs IG concept rankings" in md and "after `layer3`, run by torch" in md
    assert "with a GAP + linear h the class logit is linear" not in md
    figs = tmp_path / "reports/fake/c2mf_figures"
    assert {"fig2_insertion_deletion_gradcam.png", "fig3_insertion_deletion_ig.png"} <= {
        p.name for p in figs.glob("*.png")}
    # naming and the α sweep score rows with a linear head: skipped, and said so
    assert "not GAP + linear" in (tmp_path / "reports/fake/c2mf_atlas.md").read_text()
    assert json.loads((tmp_path / "reports/fake/c2mf_alpha_sweep.json").read_text()) == {
        "rows": []}


@pytest.mark.parametrize("name", ["concepts", "compare", "importance", "figures", "ood"])
def test_a_stage_turned_off_writes_its_outputs_saying_so(tmp_path, monkeypatch, name,
                                                          params_file):
    import importlib

    monkeypatch.chdir(tmp_path)
    params_file(datasets={"off": {name: {"enabled": False}}})
    importlib.import_module(f"jaxconcepts.stages.{name}").main(["--dataset", "off"])
    rep = tmp_path / "reports" / "off"
    outs = {"concepts": ["data/off/concepts/DISABLED.txt", "reports/off/concepts.json"],
            "compare": ["reports/off/compare.json", "reports/off/compare.md",
                        "reports/off/compare_records.csv", "reports/off/compare_fig2.png"],
            "importance": ["data/off/importance/DISABLED.txt", "reports/off/importance.json"],
            "figures": ["reports/off/figures/DISABLED.txt"],
            "ood": ["reports/off/ood.json", "reports/off/ood.md", "reports/off/confidence.png"]}
    for f in outs[name]:
        assert (tmp_path / f).is_file(), f
    for f in rep.glob("*.json"):
        assert json.loads(f.read_text())["enabled"] is False
    if name == "figures":  # the report shows why there are no galleries
        from jaxconcepts.viz import dataset_section

        sec = dataset_section("off", {}, manifest=tmp_path / "none.json", reports=tmp_path /
                              "reports")
        assert any("turned off" in n for n in sec["notes"])
    assert not np.any([p.name.startswith(".") for p in rep.glob("*")])  # no temp files left
