"""The params schema (jaxconcepts/_params.py): params.yaml is complete and typo-proof."""

from __future__ import annotations

import pytest

from jaxconcepts._params import (
    SECTIONS,
    check_params,
    check_value,
    dataset_params,
    load_params,
    parse_section,
    section,
)
from tests._params import REPO_PARAMS, repo_params, write_params


def test_repo_params_are_complete_and_valid():
    params = load_params(REPO_PARAMS)
    check_params(params)
    assert set(params) - {"seed", "datasets"} == set(SECTIONS)  # every section has a schema


def test_unknown_and_missing_keys_name_the_valid_keys():
    fig = repo_params()["figures"]
    with pytest.raises(ValueError, match=r"unknown keys \['max_image'\].*missing keys "
                                         r"\['enabled', 'max_images', 'pick', 'workers'\].*valid "
                                         r"keys: \['max_images', 'pick', 'dpi', 'workers', "
                                         r"'enabled'\]"):
        parse_section("figures", {"max_image": 3, "dpi": fig["dpi"]})
    with pytest.raises(ValueError, match=r"missing keys \['dpi', 'enabled', 'pick', 'workers'\]"):
        parse_section("figures", {"max_images": 3})
    with pytest.raises(ValueError, match="unknown params section 'figure'; valid sections"):
        parse_section("figure", fig)


@pytest.mark.parametrize(("key", "value", "match"), [
    ("max_iter", True, r"concepts.max_iter=True should be int, got bool"),
    ("max_iter", 3.5, r"concepts.max_iter=3.5 should be int"),
    ("tol", "small", r"concepts.tol='small' should be float"),
    ("n_components", "a", r"concepts.n_components='a' should be int or null"),
    ("methods", ["cgap", "kmeans"], r"concepts.methods\[1\]='kmeans'; valid choices"),
    ("methods", "cgap", r"concepts.methods='cgap' should be list"),
    ("n_concepts", 0, r"concepts.n_concepts=0 should be > 0"),
])
def test_values_are_type_checked(key, value, match):
    with pytest.raises(ValueError, match=match):
        parse_section("concepts", {**repo_params()["concepts"], key: value})


def test_values_are_converted_and_nulls_kept():
    c = parse_section("concepts", {**repo_params()["concepts"], "tol": 1, "n_components": None})
    assert c.tol == 1.0 and isinstance(c.tol, float) and c.n_components is None
    assert check_value([1, 2.5], list[float], "x") == [1.0, 2.5]


def test_dataset_overrides_merge_and_are_checked():
    params = repo_params()
    planted = dataset_params(params, "planted")
    assert planted["figures"]["max_images"] == 8  # the override
    assert planted["figures"]["dpi"] == params["figures"]["dpi"]  # the rest of the section
    assert planted["extract"]["model"] == "resnet10t" and planted["model_dep"]
    params["datasets"]["planted"]["figure"] = {"dpi": 3}
    with pytest.raises(ValueError, match=r"datasets.planted: unknown keys \['figure'\]"):
        dataset_params(params, "planted")
    with pytest.raises(ValueError, match=r"dataset='nope'.*valid choices: \['objects', "
                                          r"'objects_lite1', 'photos', 'planted', "
                                          r"'planted_layer3'\]"):
        dataset_params(repo_params(), "nope")


def test_unknown_top_level_key(tmp_path):
    path = write_params(tmp_path / "params.yaml", figure={"dpi": 3})
    with pytest.raises(ValueError, match=r"unknown top-level keys \['figure'\]"):
        load_params(path)


def test_a_default_in_code_is_refused():
    with pytest.raises(TypeError, match="has a default in code"):
        @section("bad")
        class Bad:
            x: int = 3
    assert "bad" not in SECTIONS


def test_crops_off_while_a_reader_is_on_fails_naming_the_fix():
    params = repo_params()
    params["datasets"]["objects"]["crops"] = {"enabled": False}
    with pytest.raises(ValueError, match=r"datasets\.objects: crops\.enabled is false but ood and "
                                         r"c2mf \(CRAFT on crops\) read the crops; set crops\."
                                         r"enabled: true"):
        check_params(params)
    params["datasets"]["objects"].update(ood={"enabled": False}, c2mf={
        **params["datasets"]["objects"]["c2mf"], "craft_source": "rows"})
    check_params(params)  # nothing reads the crops any more
