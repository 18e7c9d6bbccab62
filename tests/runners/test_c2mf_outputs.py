"""``c2mf_outputs``: the stage's whole computation in memory, on the runners' tiny store:
``run_c2mf``'s four results, the split-seed summary and the α sweep; nothing is written."""

from __future__ import annotations

import json

from jaxconcepts.runners import C2MFOutputs, c2mf_outputs
from jaxconcepts.params import load_section
from tests.runners.conftest import PARAMS
from tests.runners.test_c2mf import _cfg


def test_outputs_hold_the_fits_the_split_seeds_and_the_alpha_sweep(tiny_store, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written: the folder stays empty
    cfg = _cfg(alpha_sweep=[0.5, 1.0], sweep_k=3, split_seeds=[0, 1])
    res = c2mf_outputs(tiny_store, cfg, dataset="tiny", crops_path=None, truth=None,
                       atlas=load_section("atlas", PARAMS), naming=load_section("naming", PARAMS),
                       load_image=None)
    assert isinstance(res, C2MFOutputs)
    assert res.fits.get("c2mf", 3).W.shape == (3, tiny_store.shape[0])
    assert res.metrics["split_seeds"] is not None  # two seeds: the headline numbers across them
    assert {r["alpha"] for r in res.sweep} == {0.5, 1.0}
    assert res.atlases == [] and res.every == {}  # atlas_k None: no atlas, no codes
    assert res.naming_accuracy is None  # no objects truth
    json.dumps(res.metrics)  # the stage writes it as JSON
    assert list(tmp_path.iterdir()) == []
