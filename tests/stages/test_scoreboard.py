"""The scoreboard stage (second pipeline, scoreboard/dvc.yaml): its params are checked, and a tiny
ground runs end to end into the table, the JSON and the figure, resuming from kept seeds."""

import json
from pathlib import Path

import pytest

from jaxconcepts.stages.scoreboard import Settings
from tests._params import SCOREBOARD_PARAMS


def test_the_committed_params_load():
    s = Settings.load(SCOREBOARD_PARAMS)
    assert len(s.seeds) >= 5 and s.targets == [0.7, 0.9]


@pytest.mark.parametrize("change, match", [
    ({"width_typo": 3}, "unknown keys \\['width_typo'\\]"),
    ({"seeds": [0, 1, 2]}, ">= 5 distinct seeds"),
    ({"targets": [0.7, 1.2]}, "in \\(0, 1\\)"),
    ({"n_classes": 1}, "n_classes=1 should be an int >= 2"),
    ({"craft": {"max_iter": 5}}, "scoreboard.craft should have the keys \\['max_iter', 'tol'\\]"),
    ({"streamed": ["batchtopk"], "methods": ["topk"]}, "should be among scoreboard.methods"),
])
def test_bad_params_are_refused(params_file, change, match):
    path = params_file(base=SCOREBOARD_PARAMS, whole=[f"scoreboard.{k}" for k in change],
                       scoreboard=change)  # each changed key replaced whole
    with pytest.raises(ValueError, match=match):
        Settings.load(path)


def test_a_missing_key_is_named(params_file):
    path = params_file(base=SCOREBOARD_PARAMS, drop=["scoreboard.noise"])
    with pytest.raises(ValueError, match="missing keys \\['noise'\\]"):
        Settings.load(path)


def _row(method, path, data, **over):
    row = {"method": method, "path": path, "data": data, "target": 0.7, "knob": "k",
           "value": 4, "reached": True, "r2": 0.71, "mcc": 0.4, "f1": 0.1, "dead": 0.0,
           "random_mcc": 0.3, "stability": {"mode": "stable", "pw_mcc": 0.8, "shared": 0.5,
                                             "pairs": 10},
           "vs_random": {"mean": 0.1, "low": 0.05, "high": 0.15}}
    return {**row, **over}


def test_table_and_figure_show_the_class_methods_and_the_streamed_row(tmp_path):
    from jaxconcepts.report import scoreboard_table as _table
    from jaxconcepts.viz._boards import scoreboard_figure as _figure

    rows = [_row("topk", "in_memory", "A"), _row("topk", "streamed", "A", mcc=0.39),
            _row("craft", "in_memory", "max(A, 0)",
                 vs_random={"mean": -0.01, "low": -0.02, "high": 0.01}),
            _row("c2mf", "streamed", "A"),
            {"method": "pca", "path": "streamed", "data": "A", "target": 0.9, "knob": "k",
             "value": None, "reached": False, "r2_at_range_end": 0.85}]
    md = _table(rows).splitlines()
    assert md[2].startswith("| topk | in memory (A) | 0.7 | k = 4 | 0.710 | 0.400 |")
    assert md[3].startswith("| topk | streamed (A) | 0.7 | k = 4 | 0.710 | 0.390 |")
    assert "| craft | in memory (max(A, 0)) |" in md[4] and "does not beat it" in md[4]
    assert "| c2mf | streamed (A) |" in md[5] and "beats it" in md[5]
    assert "| pca | streamed (A) | 0.9 | not reached (R² 0.850" in md[6]
    assert all(line.count("|") == md[0].count("|") for line in md)
    _figure(rows, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000


@pytest.mark.slow
def test_tiny_scoreboard_end_to_end_and_resume(tmp_path, monkeypatch, params_file):
    from jaxconcepts.stages import scoreboard

    params = params_file(base=SCOREBOARD_PARAMS, scoreboard=dict(
        n_rows=3000, epochs=2, methods=["topk"], targets=[0.7], streamed=[]))
    monkeypatch.chdir(tmp_path)
    scoreboard.main(["--params", str(params)])
    out = json.loads(Path("reports/scoreboard/scoreboard.json").read_text())
    (row,) = out["rows"]
    assert row["method"] == "topk" and row["target"] == 0.7
    if row["reached"]:
        assert set(row) >= {"mcc", "f1", "dead", "vs_random", "stability"}
    md = Path("reports/scoreboard/scoreboard.md").read_text()
    assert "| topk | in memory (A) | 0.7 |" in md
    assert Path("reports/scoreboard/scoreboard.png").stat().st_size
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


def test_scoreboard_page_renders_the_second_pipelines_tables(tmp_path):
    """``jaxconcepts report --scoreboard``: the tables present, figures under scoreboard/, every
    report page's navigation links it; no table at all is a clear error."""
    from jaxconcepts.stages.report import build_index, build_scoreboard

    params = {"datasets": {"planted": {}, "objects": {}}}
    with pytest.raises(FileNotFoundError, match="dvc repro scoreboard/dvc.yaml"):
        build_scoreboard(params, title="t", reports=tmp_path)
    board = tmp_path / "scoreboard"
    board.mkdir()
    (board / "scoreboard.md").write_text("| method | MCC |\n|---|---|\n| topk | 0.8 |\n\n"
                                         "![fig](scoreboard.png)\n")
    (board / "planted.md").write_text("| method | IoU |\n|---|---|\n| pca | 0.3 |\n")
    page = build_scoreboard(params, title="t", reports=tmp_path)
    assert "<td>topk</td>" in page and "<td>pca</td>" in page
    assert 'src="scoreboard/scoreboard.png"' in page
    assert "Real photos" not in page  # objects.md absent: no empty section
    for html in (page, build_index(params, title="t")):
        assert 'href="scoreboard.html"' in html
