"""Stage ``concepts`` on a tiny fake activation store (fixture ``concepts_workdir``)."""

import json

import numpy as np
import pytest

from jaxconcepts.concepts import load_concepts
from jaxconcepts.stages import compare, concepts

from tests._params import write_params

from tests.concepts.conftest import C


@pytest.mark.slow
def test_concepts_stage_writes_the_contract(concepts_workdir):
    root, A = concepts_workdir
    concepts.main(["--dataset", "toy"])
    assert [p.name for p in (root / "data/toy/concepts").iterdir()] == [
        "part-00000-of-00001.safetensors"]  # one process: one part
    out, meta, _ = load_concepts(root / "data/toy/concepts")
    assert meta["n_concepts"] == "3" and meta["methods"] == "cgap,cpha"
    assert set(out) == {"index"} | {f"{m}_{f}" for m in ("cgap", "cpha") for f in
                                    ("labels", "sub_labels", "n_concepts", "n_sub_concepts",
                                     "flags", "metrics")}
    np.testing.assert_array_equal(out["index"], np.arange(5))
    for m in ("cgap", "cpha"):
        assert out[f"{m}_labels"].shape == (5, C) and out[f"{m}_labels"].dtype == np.int32
        assert out[f"{m}_metrics"].shape == (5, 3) and out[f"{m}_metrics"].dtype == np.float32
        assert out[f"{m}_flags"][4] == 3 and np.all(out[f"{m}_labels"][4] == -1)
        live = (A != 0).any((2, 3))
        np.testing.assert_array_equal(out[f"{m}_labels"] >= 0, live)
    # same results as the batched API on the whole store at once (batch size independence)
    import jax

    from jaxconcepts.concepts import cgap
    r = cgap(A[2:4], key=jax.random.key(0), index=np.array([2, 3]), n_concepts=3,
             n_sub_concepts=2)
    np.testing.assert_array_equal(out["cgap_labels"][2:4], np.asarray(r.labels))
    summary = json.loads((root / "reports/toy/concepts.json").read_text())
    assert summary["n_images"] == 5 and summary["cgap"]["n_flag_all_zero"] == 1


def test_bad_params_are_named(concepts_workdir):
    root, _ = concepts_workdir
    write_params(root / "params.yaml", base=root / "params.yaml", concepts={"methods": ["kmeans"]})
    with pytest.raises(ValueError, match="concepts.methods"):
        concepts.main(["--dataset", "toy"])
    with pytest.raises(ValueError, match="dataset='nope'"):
        compare.main(["--dataset", "nope"])
