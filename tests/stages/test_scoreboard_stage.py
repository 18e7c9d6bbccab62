"""The scoreboard stage (second pipeline, scoreboard/dvc.yaml): its params are checked, and a tiny
ground runs end to end into the table, the JSON and the figure, resuming from kept seeds."""

import json
from pathlib import Path

import pytest
import yaml

from jaxconcepts.stages.scoreboard import Settings

ROOT = Path(__file__).resolve().parents[2]


def _params(tmp_path, **change):
    p = yaml.safe_load((ROOT / "scoreboard" / "params.yaml").read_text())
    p["scoreboard"].update(change)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


def test_the_committed_params_load():
    s = Settings.load(ROOT / "scoreboard" / "params.yaml")
    assert len(s.seeds) >= 5 and s.targets == [0.7, 0.9]


@pytest.mark.parametrize("change, match", [
    ({"width_typo": 3}, "unknown keys \\['width_typo'\\]"),
    ({"seeds": [0, 1, 2]}, ">= 5 distinct seeds"),
    ({"targets": [0.7, 1.2]}, "in \\(0, 1\\)"),
])
def test_bad_params_are_refused(tmp_path, change, match):
    with pytest.raises(ValueError, match=match):
        Settings.load(_params(tmp_path, **change))


def test_a_missing_key_is_named(tmp_path):
    p = yaml.safe_load((ROOT / "scoreboard" / "params.yaml").read_text())
    del p["scoreboard"]["noise"]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(p))
    with pytest.raises(ValueError, match="missing keys \\['noise'\\]"):
        Settings.load(tmp_path / "p.yaml")


@pytest.mark.slow
def test_tiny_scoreboard_end_to_end_and_resume(tmp_path, monkeypatch):
    from jaxconcepts.stages import scoreboard

    params = _params(tmp_path, n_rows=3000, epochs=2, methods=["topk"], targets=[0.7])
    monkeypatch.chdir(tmp_path)
    scoreboard.main(["--params", str(params)])
    out = json.loads(Path("reports/scoreboard/scoreboard.json").read_text())
    (row,) = out["rows"]
    assert row["method"] == "topk" and row["target"] == 0.7
    if row["reached"]:
        assert set(row) >= {"mcc", "f1", "dead", "vs_random", "stability"}
    md = Path("reports/scoreboard/scoreboard.md").read_text()
    assert "| topk | 0.7 |" in md and Path("reports/scoreboard/scoreboard.png").stat().st_size
    runs = list(Path("data/scoreboard/runs").iterdir())
    assert len(runs) == 1  # one folder per settings
    kept = sorted(p.name for p in runs[0].rglob("seed-*.npz"))
    assert len(kept) == 5 * row["reached"]
    stamp = {p: p.stat().st_mtime_ns for p in runs[0].rglob("seed-*.npz")}
    scoreboard.main(["--params", str(params)])  # a rerun reuses every kept seed
    assert {p: p.stat().st_mtime_ns for p in runs[0].rglob("seed-*.npz")} == stamp
    again = json.loads(Path("reports/scoreboard/scoreboard.json").read_text())["rows"][0]
    if row["reached"]:
        assert again["mcc"] == pytest.approx(row["mcc"])  # the same atoms, read back
