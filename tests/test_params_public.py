"""jaxconcepts.params: the typed params sections the store-level runners take."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from jaxconcepts.params import C2MF, Concepts, load_section, with_seed

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def test_load_section_applies_the_dataset_and_resolves_the_seed():
    raw = yaml.safe_load(PARAMS.read_text())
    base = load_section("c2mf", PARAMS)
    planted = load_section("c2mf", PARAMS, dataset="planted")
    assert isinstance(base, C2MF) and isinstance(planted, C2MF)
    assert list(planted.k) == raw["datasets"]["planted"]["c2mf"]["k"]
    assert list(base.k) == raw["c2mf"]["k"]
    assert base.seed == (raw["c2mf"]["seed"] if raw["c2mf"]["seed"] is not None else raw["seed"])
    small = load_section("concepts", PARAMS, overrides={"n_concepts": 3})
    assert isinstance(small, Concepts) and small.n_concepts == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        small.n_concepts = 4


def test_with_seed_fills_only_a_missing_seed():
    cfg = load_section("c2mf", PARAMS)
    assert with_seed(dataclasses.replace(cfg, seed=None), 7).seed == 7
    assert with_seed(dataclasses.replace(cfg, seed=3), 7).seed == 3


def test_bad_names_and_values_are_named():
    with pytest.raises(ValueError, match="no_such_section"):
        load_section("no_such_section", PARAMS)
    with pytest.raises(ValueError, match="unknown keys"):
        load_section("concepts", PARAMS, overrides={"n_concept": 3})
    with pytest.raises(ValueError, match="no_such_dataset"):
        load_section("c2mf", PARAMS, dataset="no_such_dataset")
    with pytest.raises(FileNotFoundError):
        load_section("c2mf", PARAMS.parent / "missing.yaml")
