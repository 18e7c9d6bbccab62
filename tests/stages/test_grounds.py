"""The ``grounds`` stage (second pipeline) on a tiny planted store: outputs, checks, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.stages.test_c2mf import _write_planted

BOARD = {"methods": ["topk", "pca", "kmeans"], "seeds": [0, 1, 2, 3, 4], "sae_width": 4,
         "sae_active": [2],
         "jumprelu_sparsity": [0.01], "dict_k": [2], "sae_epochs": 2,
         "sae_learning_rate": 0.01, "sae_images_per_batch": 2, "c2mf_max_steps": 5,
         "batch_images": 4}


def _board(root, **change):
    (root / "board.yaml").write_text(yaml.safe_dump({"grounds": {**BOARD, **change}}))
    return str(root / "board.yaml")


def test_settings_are_checked(tmp_path):
    from jaxconcepts.stages.grounds import GroundSettings

    with pytest.raises(ValueError, match="stability needs >= 5"):
        GroundSettings.load(_board(tmp_path, seeds=[0, 1]))
    with pytest.raises(ValueError, match="valid choices"):
        GroundSettings.load(_board(tmp_path, methods=["topk", "sparse_pca"]))
    with pytest.raises(ValueError, match="sae_active"):
        GroundSettings.load(_board(tmp_path, sae_active=[9]))
    repo = GroundSettings.load(Path(__file__).parents[2] / "scoreboard" / "params.yaml")
    assert len(repo.seeds) >= 5 and set(repo.knobs()) == set(repo.methods)


@pytest.mark.slow
def test_tiny_ground_end_to_end_and_resume(tmp_path, monkeypatch, c2mf_params):
    from jaxconcepts.evaluation import _grounds
    from jaxconcepts.stages import grounds

    monkeypatch.chdir(tmp_path)
    _write_planted(tmp_path, n_per_class=6)
    c2mf_params(tmp_path, test_fraction=0.5)
    argv = ["--dataset", "fake", "--board", _board(tmp_path)]
    grounds.main(argv)
    out = json.loads(Path("reports/scoreboard/fake.json").read_text())
    assert [r["method"] for r in out["rows"]] == ["topk", "pca", "kmeans"]
    for r in out["rows"]:
        assert len(r["per_seed"]) == 5 and r["stability"]["pairs"] == 10
        assert -1.0 <= r["mean_best_corr"] <= 1.0 and r["r2"] <= 1.0
        assert set(r["vs_random"]) == {"mean_best_corr", "mean_best_iou", "importance_hit"}
        assert 0.0 <= r["coverage@0.3"] <= 1.0 and r["mean_best_iou"] is not None
    md = Path("reports/scoreboard/fake.md").read_text()
    assert "| topk | k active = 2 |" in md and "| pca | k = 2 |" in md
    assert Path("reports/scoreboard/fake.png").stat().st_size > 1000

    def no_fit(*a, **k):
        raise AssertionError("a kept fit was refitted")

    monkeypatch.setattr(_grounds, "fit_ground_model", no_fit)
    grounds.main(argv)  # every fit is read back from data/scoreboard/grounds
    assert json.loads(Path("reports/scoreboard/fake.json").read_text())["rows"] == out["rows"]
