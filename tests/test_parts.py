"""Per-image stages (concepts, importance) on 2 forced CPU devices and on 2 processes: the same
outputs as 1 device / 1 process; the parts reader's checks (jaxconcepts/_parts.py)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from jaxconcepts._parts import (
    gather_parts, load_parts, process_slot, process_view, write_part,
)
from jaxconcepts.concepts import load_concepts
from jaxconcepts.store import ActivationStore, HeadParams, StoreWriter
from jaxconcepts.importance import load_importance
from tests._params import write_params

ROOT = Path(__file__).resolve().parents[1]

N, SHARD, C, H, W, NCLS = 12, 3, 10, 3, 3, 3


def _project(root: Path) -> Path:
    """A toy project: a 12-image store in 4 shards of 3 (GAP + linear head), and params."""
    rng = np.random.default_rng(0)
    a = np.maximum(rng.normal(size=(N, C, H, W)), 0).astype(np.float32)
    a[5] = 0.0  # an all-zero image
    weight = rng.normal(size=(NCLS, C)).astype(np.float32)
    bias = rng.normal(size=NCLS).astype(np.float32)
    logits = a.mean((2, 3)) @ weight.T + bias
    pred = logits.argmax(1)
    label = np.where(np.arange(N) % 4 == 0, -1, (pred + 1) % NCLS)  # some unlabelled
    with StoreWriter(root / "data/toy/activations", shard_size=SHARD) as w:
        w.add(activations=a, logits=logits, target=pred, label=label, pred=pred,
              prob=np.ones(N), index=np.arange(N))
        w.finish({"model": "toy", "shape": [C, H, W], "images": [], "skipped": [],
                  "head": {"kind": "gap_linear", "num_classes": NCLS}, "class_names": None},
                 HeadParams(weight, bias))
    write_params(root / "params.yaml", datasets={"toy": {}},
                 concepts={"n_concepts": 3, "n_sub_concepts": 2, "batch_size": 3, "group": 1,
                           "max_iter": 50},
                 importance={"batch_size": 3, "target": "label", "head": "auto", "min_p": None,
                             "methods": ["cgap", "cpha"]})
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Both stages on one process with one device (this pytest process)."""
    from jaxconcepts.stages import concepts, importance

    root = _project(tmp_path_factory.mktemp("one"))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        concepts.main(["--dataset", "toy"])
        importance.main(["--dataset", "toy"])
    finally:
        os.chdir(cwd)
    return root


def _assert_same(root: Path, ref: Path):
    for load, stage in ((load_concepts, "concepts"), (load_importance, "importance")):
        got, want = load(root / "data/toy" / stage), load(ref / "data/toy" / stage)
        assert set(got.arrays) == set(want.arrays)
        for k, v in want.arrays.items():
            if np.issubdtype(v.dtype, np.integer):
                np.testing.assert_array_equal(got.arrays[k], v, err_msg=k)
            else:
                np.testing.assert_allclose(got.arrays[k], v, rtol=1e-5, atol=1e-6, err_msg=k)
        assert got.metadata == want.metadata
        a = json.loads((root / f"reports/toy/{stage}.json").read_text())
        b = json.loads((ref / f"reports/toy/{stage}.json").read_text())
        for k in ("n_images", "cgap", "cpha") + (("p_t", "label_fallback_to_pred",
                                                  "n_invalid_p_t") if stage == "importance"
                                                 else ()):
            assert json.dumps(a[k], sort_keys=True) == json.dumps(b[k], sort_keys=True) or \
                np.allclose(_numbers(a[k]), _numbers(b[k]), rtol=1e-5), (stage, k)


def _numbers(x):
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _numbers(x[k])]
    if isinstance(x, list):
        return [v for e in x for v in _numbers(e)]
    return [np.nan if x is None else float(x)]


@pytest.mark.slow
def test_two_devices_equal_one(reference, tmp_path, launch):
    root = _project(tmp_path)
    for stage in ("concepts", "importance"):
        # batches of 3 padded to 4, split 2 + 2; must not hang (the launcher's timeout)
        launch("tests._parts_worker", root, stage, devices=2)
    _assert_same(root, reference)
    assert json.loads((root / "reports/toy/concepts.json").read_text())[
        "n_devices_per_process"] == [2]


@pytest.mark.slow
def test_two_processes_equal_one(reference, tmp_path, launch):
    root = _project(tmp_path)
    for stage in ("concepts", "importance"):
        # the launcher's variables; no coordinator (nothing is exchanged)
        launch("tests._parts_worker", root, stage, devices=1, processes=2, coordinator=False)
        parts = sorted(p.name for p in (root / "data/toy" / stage).iterdir())
        assert parts == ["part-00000-of-00002.safetensors", "part-00001-of-00002.safetensors"]
    # process p handled store shards p, p + 2: images 0-2, 6-8 | 3-5, 9-11
    part1 = load_parts(root / "data/toy/concepts", stage="concepts")
    assert [i["timings"] is not None for i in part1.infos] == [True, True]
    from safetensors.numpy import load_file
    idx1 = load_file(root / "data/toy/importance/part-00001-of-00002.safetensors")["index"]
    np.testing.assert_array_equal(idx1, [3, 4, 5, 9, 10, 11])
    _assert_same(root, reference)
    summary = json.loads((root / "reports/toy/importance.json").read_text())
    assert summary["n_processes"] == 2 and summary["label_fallback_to_pred"] == 3


def _part(d, p, count, index, *, store_images=N, meta=None):
    index = np.asarray(index, np.int32)
    write_part(d, {"index": index, "x_labels": index[:, None] * np.ones((1, 2), np.int32)},
               meta or {"seed": "0"}, process_index=p, process_count=count,
               store_images=store_images)


def test_parts_read_as_one_ordered_by_index(tmp_path):
    _part(tmp_path, 1, 2, [3, 4, 5, 9, 10, 11])
    _part(tmp_path, 0, 2, [0, 1, 2, 6, 7, 8])
    got = load_parts(tmp_path, stage="concepts", expected_index=np.arange(N))
    np.testing.assert_array_equal(got.arrays["index"], np.arange(N))
    np.testing.assert_array_equal(got.arrays["x_labels"][:, 1], np.arange(N))
    assert got.metadata == {"seed": "0"}
    assert gather_parts(tmp_path, stage="concepts", process_index=1, process_count=2) is None


def test_missing_part_is_a_clear_error(tmp_path):
    _part(tmp_path, 0, 2, [0, 1, 2, 6, 7, 8])
    with pytest.raises(FileNotFoundError, match=r"missing 1 of 2 parts: \['part-00001-of-00002"
                                                r".safetensors'\].*run `jaxconcepts concepts`"):
        load_parts(tmp_path, stage="concepts")
    with pytest.raises(TimeoutError, match="part-00001-of-00002"):
        gather_parts(tmp_path, stage="concepts", process_index=0, process_count=2,
                     timeout_s=0.2, poll_s=0.05)
    with pytest.raises(FileNotFoundError, match="no importance parts"):
        load_importance(tmp_path / "nowhere")


def test_incomplete_or_mixed_parts_are_errors(tmp_path):
    _part(tmp_path, 0, 2, [0, 1, 2, 6, 7, 8])
    _part(tmp_path, 1, 2, [3, 4, 5, 9, 10])  # image 11 lost
    with pytest.raises(ValueError, match="hold 11 images, the store 12"):
        load_parts(tmp_path, stage="concepts")
    with pytest.raises(ValueError, match=r"missing images \[11\]"):
        load_parts(tmp_path, stage="concepts", expected_index=np.arange(N))
    _part(tmp_path, 1, 2, [3, 4, 5, 9, 10, 8])  # image 8 twice
    with pytest.raises(ValueError, match=r"images \[8\] appear more than once"):
        load_parts(tmp_path, stage="concepts")
    _part(tmp_path, 1, 2, [3, 4, 5, 9, 10, 11], meta={"seed": "1"})  # another run
    with pytest.raises(ValueError, match="different runs"):
        load_parts(tmp_path, stage="concepts")
    write_part(tmp_path, {"index": np.arange(3, dtype=np.int32)}, {}, process_index=2,
               process_count=3, store_images=N)  # a stale layout, next to the 2-part one
    with pytest.raises(ValueError, match=r"mixes parts of \[2, 3\] processes"):
        load_parts(tmp_path, stage="concepts")
    _part(tmp_path, 0, 1, np.arange(N))  # process 0 of a new 1-process run clears the others
    assert [p.name for p in tmp_path.iterdir()] == ["part-00000-of-00001.safetensors"]
    assert len(load_parts(tmp_path, stage="concepts").arrays["index"]) == N


def test_process_view_takes_every_pth_shard(tmp_path):
    _project(tmp_path)
    store = ActivationStore(tmp_path / "data/toy/activations")
    view = process_view(store, 1, 3)  # shards 1 (images 3-5) of 4
    assert len(view) == 3 and len(store) == N
    np.testing.assert_array_equal(view.read("index"), [3, 4, 5])
    assert process_view(store, 0, 1) is store
    with pytest.raises(ValueError, match="process 4 of 5 has no store shard.*4 shards"):
        process_view(store, 4, 5)
    with pytest.raises(ValueError, match=r"process_index=2 should be in \[0, process_count=2\)"):
        process_view(store, 2, 2)


def test_process_slot_reads_the_launcher(monkeypatch):
    for i, n in (("JAX_PROCESS_ID", "JAX_NUM_PROCESSES"), ("SLURM_PROCID", "SLURM_NTASKS"),
                 ("RANK", "WORLD_SIZE")):
        monkeypatch.delenv(i, raising=False)
        monkeypatch.delenv(n, raising=False)
    assert process_slot() == (0, 1)
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert process_slot() == (3, 4)
    monkeypatch.setenv("SLURM_PROCID", "4")
    with pytest.raises(ValueError, match=r"SLURM_PROCID=4 should be in \[0, SLURM_NTASKS=4\)"):
        process_slot()


def test_importance_with_a_jax_callable_head_equals_the_closed_form(tmp_path):
    """The sharded program traces a callable head too (same numbers as the closed form)."""
    from jaxconcepts.runners import run_importance

    _project(tmp_path)
    store = ActivationStore(tmp_path / "data/toy/activations")
    rng = np.random.default_rng(2)
    lab = np.where(np.arange(C) % 4 == 3, -1, np.arange(C) % 3)[None].repeat(N, 0)
    conc = {"index": np.arange(N, dtype=np.int32), "cgap_labels": lab.astype(np.int32),
            "cgap_sub_labels": np.where(lab >= 0, rng.integers(0, 2, lab.shape), -1)
            .astype(np.int32)}
    w, b = store.head
    kw = dict(n_concepts=3, n_sub=2, target="pred", batch_size=5, min_p=None,
              methods=("cgap",), progress=False, process=(0, 1))
    closed, s1 = run_importance(store, conc, head=HeadParams(w, b), **kw)
    traced, s2 = run_importance(store, conc, head=lambda x: x.mean((2, 3)) @ w.T + b, **kw)
    for k, v in closed.items():
        # importance is in percent: float32 rounding of p (~1e-7) shows up as ~1e-5 here
        np.testing.assert_allclose(traced[k], v, rtol=1e-5, atol=1e-4, err_msg=k)
    assert s1["n_images"] == s2["n_images"] == N and np.abs(closed["cgap_importance"]).sum() > 0


def test_load_parts_reads_only_the_images_asked_for(tmp_path):
    """A process of the next stage reads its own images' rows; every part's index is still
    checked, and an image that is not in the parts is an error."""
    N = 10
    for p, rows in enumerate((np.arange(0, 6), np.arange(6, N))):
        write_part(tmp_path, {"index": rows.astype(np.int32),
                              "x": np.stack([rows * 10.0, rows + 0.5], 1).astype(np.float32)},
                   {"m": "1"}, process_index=p, process_count=2, store_images=N)
    want = np.array([8, 1, 2, 7, 5])
    got = load_parts(tmp_path, stage="concepts", images=want)
    np.testing.assert_array_equal(got.arrays["index"], np.sort(want))
    np.testing.assert_array_equal(got.arrays["x"][:, 0], np.sort(want) * 10.0)
    whole = load_parts(tmp_path, stage="concepts")
    np.testing.assert_array_equal(whole.arrays["x"][np.sort(want)], got.arrays["x"])
    with pytest.raises(ValueError, match=r"lack images \[11\]"):
        load_parts(tmp_path, stage="concepts", images=[1, 11])
