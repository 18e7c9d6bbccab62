"""``run_c2mf`` and ``split_seed_runs`` on a tiny store: every method and k gets its tables,
the fits are what ``C2MFFits.get`` hands on, and bad settings fail before anything is fitted."""

import dataclasses
import json

import numpy as np
import pytest

from jaxconcepts.params import load_section
from jaxconcepts.runners import run_c2mf, split_seed_runs
from tests.runners.conftest import PARAMS


def _cfg(**change):
    cfg = load_section("c2mf", PARAMS)
    small = dict(k=[3], methods=["c2mf", "pca"], max_steps=5, seed=0, craft_source="rows",
                 controls=[], ablation=False, split_seeds=[], alpha_sweep=[], atlas_k=None,
                 images_per_batch=8, init_rows=512, ig_steps=2, eval_batch=8, min_images=2)
    return dataclasses.replace(cfg, **{**small, **change})


@pytest.fixture(scope="module")
def first(tiny_store):
    return run_c2mf(tiny_store, _cfg(), dataset="tiny", progress=False)


def test_every_method_gets_tables_1_to_3_and_insertion_deletion(tiny_store, first):
    metrics, arrays, histories, fits = first
    json.dumps(metrics)  # the stage writes it as JSON
    assert metrics["n_train_images"] + metrics["n_test_images"] == len(tiny_store)
    assert metrics["head"]["kind"] == "gap_linear"
    for m in ("c2mf", "pca"):
        entry = metrics["results"][m]["k3"]
        assert entry["k_used"] == 3
        assert {"fit_seconds", "eval_seconds"} <= set(entry)
    assert len(histories) >= 1 and all(np.all(np.isfinite(h)) for h in histories.values())
    model = fits.get("c2mf", 3)
    assert model.W.shape == (3, tiny_store.shape[0])
    assert fits.get("c2mf", 10 ** 6) is None  # above the data's cap: nothing to fit
    assert arrays["classes"].tolist() == sorted(arrays["classes"].tolist())


def test_split_seed_runs_add_a_seed_and_keep_the_first_run(tiny_store, first):
    metrics = first[0]
    assert split_seed_runs(tiny_store, _cfg(), metrics, dataset="tiny") is None  # no extra seed
    summary = split_seed_runs(tiny_store, _cfg(split_seeds=[0, 1]), metrics, dataset="tiny")
    assert summary is not None
    json.dumps(summary)


@pytest.mark.parametrize("change, match", [
    (dict(methods=["nope"]), r"c2mf.methods=\['nope'\]; valid choices"),
    (dict(k=[0]), r"c2mf.k"),
    (dict(craft_source="elsewhere"), r"c2mf.craft_source"),
    (dict(seed=None), r"c2mf.seed=None"),
    (dict(k=[10 ** 6], cap_k=False), r"k"),
])
def test_bad_settings_fail_before_any_fit(tiny_store, change, match):
    with pytest.raises(ValueError, match=match):
        run_c2mf(tiny_store, _cfg(**change), dataset="tiny", progress=False)
