"""Stages ``concepts`` and ``compare`` on a tiny fake activation store."""

import json

import numpy as np
import pytest

from jaxconcepts.concepts import load_concepts
from jaxconcepts.store import StoreWriter
from jaxconcepts.stages import compare, concepts

from tests._params import write_params

from .test_methods import C, H, W, planted


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    n = 5
    A = planted(n, seed=3)
    A[4] = 0  # an all-zero image
    with StoreWriter(tmp_path / "data/toy/activations", shard_size=3) as w:
        w.add(activations=A, logits=np.zeros((n, 2)), target=np.zeros(n), label=-np.ones(n),
              pred=np.zeros(n), prob=np.ones(n), index=np.arange(n))
        w.finish({"model": "fake", "shape": [C, H, W], "images": [], "skipped": [],
                  "head": {"kind": "other", "num_classes": 2}, "class_names": None})
    params = {
        "datasets": {"toy": {}},
        "concepts": {"n_concepts": 3, "n_sub_concepts": 2, "batch_size": 2, "group": 2},
        "compare": {"n_images": 4, "n_concepts": 3, "sweep": [2, 3], "batch_size": 4,
                    "algorithms": ["kmeans", "agglomerative", "gmm"]},
    }
    write_params(tmp_path / "params.yaml", **params)
    monkeypatch.chdir(tmp_path)
    return tmp_path, A


@pytest.mark.slow
def test_concepts_stage_writes_the_contract(workdir):
    root, A = workdir
    concepts.main(["--dataset", "toy"])
    assert [p.name for p in (root / "data/toy/concepts").iterdir()] == [
        "part-00000-of-00001.safetensors"]  # one process: one part
    out, meta, _ = load_concepts(root / "data/toy/concepts")
    assert meta["n_concepts"] == "3" and meta["methods"] == "cgap,cpha"
    assert set(out) == {"index"} | {f"{m}_{f}" for m in ("cgap", "cpha") for f in
                                    ("labels", "sub_labels", "n_concepts", "n_sub_concepts",
                                     "flags", "metrics")}
    np.testing.assert_array_equal(out["index"], np.arange(5))
    for m in ("cgap", "cpha"):
        assert out[f"{m}_labels"].shape == (5, C) and out[f"{m}_labels"].dtype == np.int32
        assert out[f"{m}_metrics"].shape == (5, 3) and out[f"{m}_metrics"].dtype == np.float32
        assert out[f"{m}_flags"][4] == 3 and np.all(out[f"{m}_labels"][4] == -1)
        live = (A != 0).any((2, 3))
        np.testing.assert_array_equal(out[f"{m}_labels"] >= 0, live)
    # same results as the batched API on the whole store at once (batch size independence)
    import jax

    from jaxconcepts.concepts import cgap
    r = cgap(A[2:4], key=jax.random.key(0), index=np.array([2, 3]), n_concepts=3,
             n_sub_concepts=2)
    np.testing.assert_array_equal(out["cgap_labels"][2:4], np.asarray(r.labels))
    summary = json.loads((root / "reports/toy/concepts.json").read_text())
    assert summary["n_images"] == 5 and summary["cgap"]["n_flag_all_zero"] == 1


@pytest.mark.slow
def test_compare_stage(workdir):
    root, _ = workdir
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


def test_bad_params_are_named(workdir):
    root, _ = workdir
    write_params(root / "params.yaml", base=root / "params.yaml", concepts={"methods": ["kmeans"]})
    with pytest.raises(ValueError, match="concepts.methods"):
        concepts.main(["--dataset", "toy"])
    with pytest.raises(ValueError, match="dataset='nope'"):
        compare.main(["--dataset", "nope"])
