"""The synthetic scoreboard's rows: structure, resume, unreached targets (k-means, fast)."""

import numpy as np
import pytest

from jaxconcepts.sae import synthetic_features, synthetic_scoreboard


@pytest.fixture(scope="module")
def problem():
    # 8 well-separated atoms in 16 dims, one active per row: k-means finds them
    return synthetic_features(2000, dim=16, n_features=8, seed=1, mean_active=1, zipf=0.0,
                              noise=0.02)


@pytest.mark.slow
def test_kmeans_rows(problem, tmp_path):
    rows = synthetic_scoreboard(problem.A, problem.W, tmp_path, methods=["kmeans"],
                                targets=(0.5, 0.999), knobs={"kmeans": ("k", 2, 8)})
    reached, missed = rows
    assert reached["method"] == "kmeans" and reached["reached"] and reached["knob"] == "k"
    assert 2 <= reached["value"] <= 8
    assert reached["vs_random"]["n"] == 5 and reached["stability"]["mode"] == "stable"
    assert reached["r2"] >= 0.5 and 0 <= reached["mcc"] <= 1
    assert reached["mcc"] > reached["random_mcc"]
    assert missed["reached"] is False and missed["r2_at_range_end"] < 0.999
    assert "mcc" not in missed
    # a second call resumes every seed from the folder: the same numbers
    again = synthetic_scoreboard(problem.A, problem.W, tmp_path, methods=["kmeans"],
                                 targets=(0.5,), knobs={"kmeans": ("k", 2, 8)})
    assert again[0] == reached  # R² and dead latents too: each seed's are kept with its atoms
    # a folder holding a seed's atoms without its scores (written before they were kept): that
    # seed is fitted again, so the row is a fresh one's
    (kept,) = [p for p in tmp_path.rglob("score-00003.json")]
    kept.unlink()
    again = synthetic_scoreboard(problem.A, problem.W, tmp_path, methods=["kmeans"],
                                 targets=(0.5,), knobs={"kmeans": ("k", 2, 8)})
    assert again[0] == reached and kept.is_file()
    with pytest.raises(ValueError, match="valid choices"):
        synthetic_scoreboard(problem.A, problem.W, tmp_path, methods=["nmf"])
    with pytest.raises(ValueError, match="pca needs each row's class"):
        synthetic_scoreboard(problem.A, problem.W, tmp_path, methods=["pca"])
    assert np.isfinite(reached["vs_random"]["low"])
