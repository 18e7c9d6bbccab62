"""``stages/_common.py``: argv parsing, the typed params of a stage, the disabled outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from jaxconcepts.stages._common import dataset_dir, stage_config, stage_parser, write_disabled
from tests._params import write_params


def test_stage_config(tmp_path):
    path = write_params(tmp_path / "params.yaml", figures={"dpi": 50})
    args = argparse.Namespace(params=str(path), dataset="planted")
    fig = stage_config(args, "figures")
    assert (fig.max_images, fig.dpi) == (8, 50)
    seed, conc = stage_config(args, "seed", "concepts")
    assert seed == 0 and conc.n_concepts == 5
    assert stage_config(argparse.Namespace(params=str(path)), "figures").max_images == 24
    with pytest.raises(ValueError, match="at least one section"):
        stage_config(args)


def test_stage_config_unknown_section(tmp_path):
    path = write_params(tmp_path / "params.yaml")
    with pytest.raises(ValueError, match="has no section 'nosuch'"):
        stage_config(argparse.Namespace(params=str(path)), "nosuch")


def test_stage_parser_defaults():
    args = stage_parser("d").parse_args([])
    assert (args.params, args.dataset) == ("params.yaml", "photos")
    args = stage_parser("d").parse_args(["--params", "p.yaml", "--dataset", "toy"])
    assert (args.params, args.dataset) == ("p.yaml", "toy")
    assert not hasattr(stage_parser("d", dataset=False).parse_args([]), "dataset")


def test_dataset_dir():
    assert dataset_dir("toy") == Path("data/toy")
    assert dataset_dir("toy", "activations") == Path("data/toy/activations")


def test_write_disabled_writes_every_output(tmp_path):
    reason = write_disabled("ood", "toy", dirs=[tmp_path / "figs"],
                            json_files=[tmp_path / "o.json"], md_files=[tmp_path / "o.md"],
                            csv_files=[(tmp_path / "o.csv", "a,b")],
                            png_files=[tmp_path / "o.png"])
    assert reason.startswith("`ood` is turned off for dataset 'toy' (ood.enabled: false")
    assert (tmp_path / "figs" / "DISABLED.txt").read_text() == reason + "\n"
    assert json.loads((tmp_path / "o.json").read_text()) == {"dataset": "toy", "enabled": False,
                                                             "note": reason}
    assert (tmp_path / "o.md").read_text() == f"## ood (toy)\n\n**Not run:** {reason}.\n"
    assert (tmp_path / "o.csv").read_text() == "a,b\n"
    assert (tmp_path / "o.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
