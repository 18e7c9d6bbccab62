"""Stage ``compare`` on a tiny fake activation store (fixture ``concepts_workdir``)."""

import json

import numpy as np
import pytest

from jaxconcepts.stages import compare




@pytest.mark.slow
def test_compare_stage(concepts_workdir):
    root, _ = concepts_workdir
    compare.main(["--dataset", "toy"])
    res = json.loads((root / "reports/toy/compare.json").read_text())
    assert set(res["table1"]["cgap"]) == {"kmeans", "agglomerative", "gmm"}
    assert set(res["table2"]["cpha"]) == {"2", "3"}
    row = res["table1"]["cpha"]["kmeans"]
    # 4 of the 5 images, sampled across classes (seeded); the all-zero image is skipped if drawn
    assert row["n_images_defined"] + res["n_images_skipped_too_few_channels"] == 4
    assert -1 <= row["ss"] <= 1
    md = (root / "reports/toy/compare.md").read_text()
    assert "| CGAP | k-means (ours, JAX)" in md and "findings" in md
    assert "records" not in res
    # Fig. 2: per-image long-format records and the per-label boxplots
    assert "(compare_fig2.png)" in md
    assert (root / "reports/toy/compare_fig2.png").stat().st_size > 1000
    lines = (root / "reports/toy/compare_records.csv").read_text().splitlines()
    assert lines[0] == "index,method,algorithm,label,ss,chi,dbi"
    recs = [dict(zip(lines[0].split(","), ln.split(","))) for ln in lines[1:]]
    n_img = row["n_images_defined"] + row["n_images_undefined"]
    assert len(recs) == n_img * 2 * 3  # images x (cgap, cpha) x algorithms
    k = [r for r in recs if r["method"] == "cpha" and r["algorithm"] == "kmeans"]
    ss = [float(r["ss"]) for r in k if r["ss"] != "nan"]
    assert np.isclose(np.mean(ss), row["ss"], atol=1e-5)
