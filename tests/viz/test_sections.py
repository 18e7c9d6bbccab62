"""``viz/_sections.py``: one dataset's section of the HTML report, read from disk."""

import json

from jaxconcepts.viz import dataset_section, missing_links

MANIFEST = {"model": "net", "weights": {"source": "timm", "path": "/w/net.safetensors",
                                        "sha256": "0123456789abcdef"},
            "layer": "blocks.5", "shape": [8, 7, 7], "head": {"kind": "gap_linear",
                                                                "num_classes": 3},
            "preprocessing": {"input_size": [3, 224, 224], "crop_pct": 0.875,
                              "interpolation": "bicubic"},
            "n_images": 2, "skipped": [{"path": "bad.jpg", "reason": "unreadable"}]}


def _entry(i, **kw):
    return {"index": i, "name": f"im{i}.jpg", "pred": 1, "pred_name": "cat", "target": 1,
            "target_name": "cat", "p_t": 0.5, "methods": {"cgap": {"n_concepts": 4}},
            "files": {"cgap": f"{i}_cgap.png", "cgap_sub": f"{i}_cgap_sub.png"}} | kw


def test_nothing_on_disk_notes_each_missing_part(tmp_path):
    sec = dataset_section("toy", {"a": 1}, manifest=tmp_path / "none.json",
                          reports=tmp_path / "reports")
    assert sec["name"] == "toy" and sec["params"] == {"a": 1}
    assert "summary" not in sec and sec["tables"] == [] and sec["images"] == []
    assert any("run `extract` first" in n for n in sec["notes"])
    assert any("run `explore` first" in n for n in sec["notes"])
    assert any("run `figures` first" in n for n in sec["notes"])


def test_full_section(tmp_path):
    man = tmp_path / "manifest.json"
    man.write_text(json.dumps(MANIFEST))
    d = tmp_path / "reports" / "toy"
    (d / "explorer").mkdir(parents=True)
    (d / "explorer" / "index.html").write_text("x")
    (d / "ood.md").write_text("# ood")
    (d / "compare.md").write_text("# compare")
    (d / "ood.json").write_text("{}")
    (d / "figures").mkdir()
    fig = {"methods": ["cgap"], "n_images": 3,
           "images": [_entry(0), _entry(1, target=2, target_name="dog", label_name="dog",
                                        flags=["odd"]),
                      _entry(2, files={}, flags=["skipped"]), _entry(3, files={})]}
    (d / "figures" / "figures.json").write_text(json.dumps(fig))
    sec = dataset_section("toy", {}, manifest=man, reports=tmp_path / "reports")
    summary = dict(sec["summary"])
    assert summary["weights"] == "timm (net.safetensors, sha256 0123456789ab)"
    assert summary["input"] == "[3, 224, 224] crop_pct=0.875 bicubic"
    assert summary["classes"] == 3
    assert sec["explorer"] == "toy/explorer/index.html"
    assert [t["title"] for t in sec["tables"]] == ["compare.md", "ood.md"]  # compare first
    assert sec["tables"][0]["base"] == "toy/"
    assert [j["title"] for j in sec["json"]] == ["ood.json"]
    assert sec["notes"] == ["skipped at extraction: bad.jpg: unreadable",
                            "figures drawn for 2 of 3 images (figures.max_images)"]
    # the drawn images, then the undrawn flagged one
    assert [im["title"] for im in sec["images"]] == ["#0 im0.jpg", "#1 im1.jpg", "#2 im2.jpg"]
    im1 = sec["images"][1]
    assert im1["caption"] == ("predicted: cat (class 1); target: dog (class 2); p_t = 0.5000; "
                              "label: dog; CGAP: 4 concepts")
    assert im1["rows"] == [{"label": "CGAP concepts (by decreasing importance)",
                            "src": "toy/figures/1_cgap.png"}]
    assert im1["details"] == [{"label": "CGAP sub-concepts", "src": "toy/figures/1_cgap_sub.png"}]
    assert im1["flags"] == ["odd"] and sec["images"][2]["rows"] == []


def test_disabled_figures_and_explorer_notes(tmp_path):
    d = tmp_path / "toy"
    (d / "explorer").mkdir(parents=True)
    (d / "figures").mkdir()
    (d / "explorer" / "DISABLED.txt").write_text("explorer off\n")
    (d / "figures" / "DISABLED.txt").write_text("figures off\n")
    sec = dataset_section("toy", {}, manifest=tmp_path / "m.json", reports=tmp_path)
    assert "explorer off" in sec["notes"] and "figures off" in sec["notes"]
    assert "explorer" not in sec


def test_missing_links(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    page = ('<h2 id="top">x</h2><a href="#top">t</a><a href="#gone">g</a>'
            '<img src="a.png"><img src="b.png"><a href="https://e.org/x">e</a>')
    assert missing_links(page, tmp_path) == ["#gone", "b.png", "https://e.org/x"]
