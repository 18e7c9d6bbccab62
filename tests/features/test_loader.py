"""Extraction's loaders and writer: chunked batches, priority, background commits, timings."""

import hashlib
import json
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from jaxconcepts.features import extract
from jaxconcepts.features._images import list_images
from jaxconcepts.features._loader import (
    LOADER_NICE,
    ImageDataset,
    ShardWriter,
    collate,
    iter_batches,
)
from jaxconcepts.features._preprocess import split_transform
from jaxconcepts.store import write_shard
from tests.features.conftest import write_image


@pytest.fixture
def seven(tmp_path):
    root = tmp_path / "images"
    for i in range(7):
        write_image(root / f"{i}.png", size=(50 + 3 * i, 40), seed=i)
    (root / "3b.png").write_bytes(b"broken")  # skipped inside a chunk
    return root


def _files(store):
    return {p.name: p.read_bytes() for p in sorted(Path(store).iterdir())}


@pytest.fixture
def threads():
    prev = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(prev)


@pytest.mark.parametrize("workers", [0, 1])
def test_chunks_join_into_the_whole_batch_in_order(seven, tiny_model, threads, workers):
    threads(3)  # workers=0: three loader threads; workers=1: one chunk per batch
    records, _ = list_images(seven)
    pil_ops, _, _ = split_transform(tiny_model.data_config)
    ds = ImageDataset(records, pil_ops, 73)
    batches = [[0, 1, 2, 3, 4], [5, 6], [7]]
    got = list(iter_batches(ds, batches, workers=workers, prefetch=1, pin_memory=False))
    assert [[m[0] for m in meta] for meta, _ in got] == batches
    for b, (meta, x) in zip(batches, got):
        ref_meta, ref = collate([ds[i] for i in b])
        assert [m[:4] for m in meta] == [m[:4] for m in ref_meta]
        assert x.is_contiguous(memory_format=torch.channels_last) and torch.equal(x, ref)
    assert [m[1] for meta, _ in got for m in meta].count(None) == 7  # one broken file


@pytest.mark.slow
@pytest.mark.parametrize("resize", ["pil", "torch"])
def test_any_loader_count_writes_the_same_store(tmp_path, seven, tiny_model, threads, resize):
    threads(2)  # the forward's threads stay fixed: its float sums depend on them
    with pytest.warns(UserWarning, match="skipping 3b.png"):
        ref = extract(tiny_model, seven, tmp_path / "ref", batch_size=3, shard_size=5,
                      workers=1, resize=resize, progress=False)  # one chunk per batch
    assert ref["resize"] == resize
    for workers in (0, 2):  # 2 threads / 2 processes: batches of 3 cut into 2 + 1
        with pytest.warns(UserWarning, match="skipping 3b.png"):
            m = extract(tiny_model, seven, tmp_path / f"w{workers}", batch_size=3, shard_size=5,
                        workers=workers, resize=resize, progress=False)
        assert m == ref
        assert _files(tmp_path / f"w{workers}") == _files(tmp_path / "ref")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_loader_threads_run_at_the_niceness_asked_for(seven, tiny_model):
    base = os.getpriority(os.PRIO_PROCESS, 0)
    seen = []

    def spy(im):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return im.resize((8, 8))

    records, _ = list_images(seven)
    ds = ImageDataset(records[:4], spy, 64)
    for nice, want in ((LOADER_NICE, min(base + LOADER_NICE, 19)), (0, base)):
        seen.clear()
        list(iter_batches(ds, [[0, 1], [2, 3]], workers=0, prefetch=1, pin_memory=False,
                          nice=nice))
        assert seen and set(seen) == {want}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base


def test_writer_commits_in_order_off_the_caller_and_raises_its_errors():
    done, where = [], set()

    def commit(k):
        where.add(threading.get_ident())
        if k == 2:
            raise OSError("disk full")
        done.append(k)

    w = ShardWriter(commit)
    for k in range(3):
        w.submit(k)
    with pytest.raises(OSError, match="disk full"):
        w.close()
    assert done == [0, 1] and threading.get_ident() not in where
    with pytest.raises(OSError, match="disk full"), ShardWriter(commit) as w2:
        w2.submit(2)
        w2.submit(3)  # waits for 2, which failed


def test_timings_cover_the_phases(tmp_path, seven, tiny_model):
    t = {}
    with pytest.warns(UserWarning, match="skipping"):
        extract(tiny_model, seven, tmp_path / "s", batch_size=4, shard_size=4, progress=False,
                timings=t)
    assert t["images"] == 8
    for k in ("wait_for_input_first", "wait_for_input", "normalize", "forward",
              "to_numpy_and_checks", "wait_for_writer", "writer", "merge", "loader_cpu_load",
              "loader_cpu_resize_crop", "loader_cpu_sha256"):
        assert t[k] >= 0, k
    assert t["forward"] > 0 and t["loader_cpu_load"] > 0


def _reference_shard_bytes(arrays):
    """safetensors bytes as ``write_shard`` wrote them before it stopped copying (tobytes)."""
    header, blobs, offset = {}, [], 0
    names = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.bool_): "BOOL"}
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        b = a.tobytes()
        header[k] = {"dtype": names.get(a.dtype, "BF16"), "shape": list(a.shape),
                     "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return len(h).to_bytes(8, "little") + h + b"".join(blobs)


def test_write_shard_bytes_and_checksum(tmp_path):
    import ml_dtypes

    rng = np.random.default_rng(0)
    nhwc = rng.random((3, 4, 5, 6), dtype=np.float32)
    arrays = {"activations": nhwc.transpose(0, 3, 1, 2),  # channels_last strides, as extracted
              "bf": rng.random((2, 3)).astype(ml_dtypes.bfloat16),
              "i": np.arange(5, dtype=np.int32),
              "empty": np.zeros((0, 4), np.float32), "m": np.array([True, False])}
    sha = write_shard(tmp_path / "s.safetensors", arrays)
    data = (tmp_path / "s.safetensors").read_bytes()
    assert data == _reference_shard_bytes(arrays)
    assert sha == hashlib.sha256(data).hexdigest()


def test_second_openmp_team_lives_only_inside_the_block():
    from jaxconcepts.features._loader import second_openmp_team

    def alive():
        return [t for t in threading.enumerate() if t.name == "jaxconcepts-openmp-team"]

    with second_openmp_team():
        assert len(alive()) == 1
    assert not alive()
    with second_openmp_team(False):
        assert not alive()
