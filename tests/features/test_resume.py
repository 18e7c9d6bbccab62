"""Resumable, multi-process, machine-independent extraction: stores compared byte for byte."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jaxconcepts.store import ActivationStore
from tests.features.conftest import write_image

ROOT = Path(__file__).parents[2]
CHILD = textwrap.dedent("""
    import os, signal, sys, torch
    torch.set_num_threads(1)
    from jaxconcepts.features import extract, load_model
    images, out, kill_after, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    lm = load_model("resnet10t", weights="random", image_size=32, num_classes=3, seed=0)
    done = []
    def on_shard(k):
        done.append(k)
        if len(done) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    m = extract(lm, images, out, batch_size=2, shard_size=3, workers=workers, progress=False,
                on_shard=on_shard)
    print("merged" if m is not None else "partial")
""")


def _run(images, out, *, kill_after=0, workers=0, env=None, wait=True):
    cmd = [sys.executable, "-c", CHILD, str(images), str(out), str(kill_after), str(workers)]
    e = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    for k in ("JAX_PROCESS_ID", "JAX_NUM_PROCESSES", "SLURM_PROCID", "SLURM_NTASKS", "RANK",
              "WORLD_SIZE"):
        if env is None or k not in env:
            e.pop(k, None)
    p = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.communicate(timeout=300) + (p.returncode,) if wait else p


def _files(store):
    return {p.name: p.read_bytes() for p in sorted(Path(store).iterdir())}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """13 images and a broken file; read only, shared by the module's tests."""
    root = tmp_path_factory.mktemp("resume") / "images"
    for i in range(13):
        write_image(root / ("a" if i % 2 else "b") / f"{i:02d}.png", size=(40, 30), seed=i)
    (root / "b" / "broken.png").write_bytes(b"not an image")  # skipped inside shard 3
    return root


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory):
    """The files of the store one uninterrupted single-process run writes."""
    ref = tmp_path_factory.mktemp("reference") / "ref"
    *_, rc = _run(images, ref)
    assert rc == 0
    return _files(ref)


@pytest.mark.slow
def test_sigkill_then_rerun_gives_the_uninterrupted_store(tmp_path, images, reference):
    out = tmp_path / "store"
    _, err, rc = _run(images, out, kill_after=2, workers=2)
    assert rc == -signal.SIGKILL, err
    ckpt = tmp_path / "store.partial"
    assert not out.exists()
    assert sorted(p.name for p in ckpt.glob("shard-*.json")) == ["shard-00000.json",
                                                                 "shard-00001.json"]
    # a shard torn by a power loss (file there, bytes wrong) and a stray temporary file
    shard1 = ckpt / "shard-00001.safetensors"
    shard1.write_bytes(shard1.read_bytes()[:100])
    (ckpt / ".shard-00002.safetensors.abc.tmp").write_bytes(b"half")
    # a second SIGKILL from outside, at whatever point the run has reached by then
    p = _run(images, out, workers=2, wait=False)
    deadline = time.monotonic() + 120
    while len(list(ckpt.glob("shard-*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert not out.exists() or p.returncode == 0
    out_text, err, rc = _run(images, out, workers=2)
    assert rc == 0 and "merged" in out_text, err
    assert _files(out) == reference
    assert not ckpt.exists()
    store = ActivationStore(out)
    assert store.verify() == [] and len(store) == 13
    assert [s["path"] for s in store.manifest["skipped"]] == ["b/broken.png"]


@pytest.mark.slow
def test_two_processes_write_the_single_process_store(tmp_path, images, reference):
    out = tmp_path / "store"
    procs = [_run(images, out, wait=False, env={"JAX_PROCESS_ID": str(i), "JAX_NUM_PROCESSES": "2"})
             for i in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], [r[1] for r in results]
    assert sorted(r[0].strip() for r in results) in (["merged", "partial"], ["merged", "merged"])
    assert _files(out) == reference


def test_manifest_is_machine_independent(tmp_path, tiny_model, images):
    from jaxconcepts.features import extract

    here = tmp_path / "one" / "images"
    there = tmp_path / "two" / "deeper" / "images"
    shutil.copytree(images, here)
    shutil.copytree(images, there)
    kw = dict(batch_size=4, shard_size=4, progress=False)
    with pytest.warns(UserWarning, match="broken.png"):
        extract(tiny_model, here, tmp_path / "one" / "activations", **kw)
    with pytest.warns(UserWarning, match="broken.png"):
        extract(tiny_model, there, tmp_path / "two" / "deeper" / "activations", **kw)
    a = _files(tmp_path / "one" / "activations")
    b = _files(tmp_path / "two" / "deeper" / "activations")
    assert a == b
    text = a["manifest.json"].decode()
    assert str(tmp_path) not in text and "/tmp" not in text and sys.prefix not in text
    store = ActivationStore(tmp_path / "two" / "deeper" / "activations")
    assert store.images[0]["rel"] == "a/01.png"
    assert Path(store.images[0]["path"]) == there / "a" / "01.png"
    assert store.manifest["weights"]["source"] == "random"
    ids = [int(i) for b in store.iter_batches(5, fields=("index", "pred")) for i in b["index"]]
    assert ids == [im["index"] for im in store.images] == list(range(13))  # dense, in row order
    assert len(store.manifest["weights"]["sha256"]) == 64


def test_stale_checkpoint_from_other_settings_restarts(tmp_path, tiny_model, images):
    from jaxconcepts.features import extract

    ckpt = tmp_path / "ck"
    ckpt.mkdir()
    (ckpt / "state.json").write_text('{"format": 0}')
    (ckpt / "shard-00000.json").write_text("{}")
    with pytest.warns(UserWarning, match="starting over"):
        extract(tiny_model, images, tmp_path / "s", batch_size=4, shard_size=4, checkpoint=ckpt,
                progress=False)
    assert len(ActivationStore(tmp_path / "s")) == 13 and not ckpt.exists()
    with pytest.raises(ValueError, match="another extraction"):
        ckpt.mkdir()
        (ckpt / "state.json").write_text('{"format": 0}')
        extract(tiny_model, images, tmp_path / "s2", batch_size=4, shard_size=4, checkpoint=ckpt,
                process_index=0, process_count=2, progress=False)
