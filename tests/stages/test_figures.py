"""Stage ``figures``: images drawn from dataset-relative store paths."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests._params import write_params


from tests.stages._toy import K, S, _make_dataset


@pytest.mark.slow
def test_figures_drawn_from_dataset_relative_paths(tmp_path, monkeypatch):
    """The store ``extract`` writes records paths relative to the dataset's image folder: the
    figures stage draws them (it drew none from a cwd-relative check), and a store whose
    images are all gone is an error naming the fix, not an empty gallery."""
    from jaxconcepts.stages import figures, importance

    _make_dataset(tmp_path, "toy", np.random.default_rng(0), relative=True)
    write_params(tmp_path / "params.yaml", datasets={"toy": {}},
                 concepts={"n_concepts": K, "n_sub_concepts": S},
                 importance={"target": "pred", "batch_size": 2},
                 figures={"max_images": 2, "dpi": 40})
    monkeypatch.chdir(tmp_path)
    manifest = json.loads(Path("data/toy/activations/manifest.json").read_text())
    assert manifest["format"] == 2 and manifest["images"][0]["path"] == "im0.png"
    importance.main(["--dataset", "toy"])
    figures.main(["--dataset", "toy"])
    fj = json.loads(Path("reports/toy/figures/figures.json").read_text())
    assert [bool(e["files"]) for e in fj["images"]] == [True, True, False]
    for e in fj["images"][:2]:
        assert set(e["files"]) == {"cgap", "cgap_sub", "cpha", "cpha_sub", "compare"}
        for name in e["files"].values():
            assert Path("reports/toy/figures", name).stat().st_size > 1000
    assert fj["images"][0]["rel"] == "im0.png"

    for f in Path("data/toy/images").iterdir():
        f.unlink()
    with pytest.raises(FileNotFoundError, match="none of the 2 images picked.*run `prepare`"):
        figures.main(["--dataset", "toy"])
    assert Path("reports/toy/figures/00000_cgap.png").is_file()  # the last good output is kept
