"""``run_concepts`` / ``write_concepts`` / ``summarise`` on a tiny store."""

import dataclasses
import json

import numpy as np
import pytest

from jaxconcepts.concepts import cgap
from jaxconcepts.params import load_section
from jaxconcepts.runners import run_concepts, summarise, write_concepts
from tests.runners.conftest import PARAMS


def _cfg(**change):
    cfg = load_section("concepts", PARAMS)
    return dataclasses.replace(cfg, **{"n_concepts": 3, "n_sub_concepts": 2, "batch_size": 8,
                                       "n_init": 2, "max_iter": 20, **change})


@pytest.mark.slow  # compiles the runner's CGAP and CPHA programs and cgap alone (about 18 s)
def test_every_image_once_in_store_order_with_the_arrays_cgap_gives(tiny_store):
    import jax

    cfg = _cfg()
    arrays, timings = run_concepts(tiny_store, cfg, progress=False)
    n, c = len(tiny_store), tiny_store.shape[0]
    assert arrays["index"].tolist() == list(range(n))
    for m in cfg.methods:
        lab = arrays[f"{m}_labels"]
        assert lab.shape == (n, c) and lab.min() >= -1 and lab.max() < cfg.n_concepts
        assert timings[m]["first_batch_seconds_incl_compile"] > 0
    # the runner pads batches to one size: image 0's labels are cgap's on the image alone
    A0 = np.asarray(next(tiny_store.iter_batches(1, fields=("activations",),
                                                 as_jax=False))["activations"])
    one = cgap(A0, key=jax.random.key(cfg.seed), index=np.array([0]), n_concepts=3,
               n_sub_concepts=2, n_init=2, max_iter=20, tol=cfg.tol,
               n_components=cfg.n_components, n_buckets=cfg.n_buckets)
    np.testing.assert_array_equal(np.asarray(one.labels)[0], arrays["cgap_labels"][0])


def test_write_concepts_writes_one_part_and_summarises_it(tiny_store, tmp_path):
    cfg = _cfg()
    summary = write_concepts(tiny_store, cfg, tmp_path / "concepts", progress=False)
    assert summary["n_images"] == len(tiny_store) and summary["n_processes"] == 1
    json.dumps(summary)  # the stage writes it as JSON
    arrays, _ = run_concepts(tiny_store, cfg, progress=False)
    again = summarise(arrays, cfg)
    assert again["n_images"] == summary["n_images"]


def test_non_finite_activations_name_the_images(tiny_store, tmp_path):
    from jaxconcepts.store import ActivationStore, read_shard, write_shard

    bad = tmp_path / "bad"
    bad.mkdir()
    for f in tiny_store.path.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    first = json.loads((bad / "manifest.json").read_text())["shards"][0]["file"]
    t = dict(read_shard(bad / first))
    t["activations"][2, 0, 0, 0] = np.nan
    write_shard(bad / first, t)
    with pytest.raises(ValueError, match=r"non-finite activations for image ids \[2\]"):
        run_concepts(ActivationStore(bad), _cfg(), progress=False)
