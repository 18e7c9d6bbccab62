"""The spine's stages and CLI, run as a user would, in a scratch directory."""

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from jaxconcepts import cli
from jaxconcepts.store import ActivationStore
from jaxconcepts.stages import prepare
from jaxconcepts.stages._common import dataset_params
from tests.features.conftest import write_image


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_packaged_photos_ship_and_load():
    names = [n for n, _ in prepare.packaged_photos()]
    assert {"skimage-chelsea.png", "skimage-coffee.png", "skimage-camera.png",
            "sklearn-china.jpg", "matplotlib-grace_hopper.jpg"} <= set(names)


@pytest.mark.slow
def test_prepare_folder_and_extract_stage(workdir, params_file):
    src = workdir / "mine"
    write_image(src / "cats" / "a.png", seed=1)
    write_image(src / "dogs" / "b.jpg", seed=2)
    (src / "dogs" / "corrupt.png").write_bytes(b"\0\0")
    params_file(workdir / "params.yaml", datasets={"mine": {
        "prepare": {"source": "folder", "folder": str(src)},
        "extract": {"model": "resnet10t", "weights": "random", "image_size": 64,
                    "model_kwargs": {"num_classes": 2}},
    }})
    with pytest.warns(UserWarning, match="corrupt.png"):
        cli.main(["prepare", "--dataset", "mine"])
    assert sorted(p.name for p in (workdir / "data/mine/images").rglob("*.*")) == ["a.png", "b.jpg"]
    cli.main(["extract", "--dataset", "mine"])
    store = ActivationStore(workdir / "data/mine/activations")
    assert len(store) == 2 and store.manifest["class_names"] == ["cats", "dogs"]
    assert store.manifest["image_size"] == 64 and store.manifest["weights"]["source"] == "random"


def test_prepare_keeps_only_chosen_classes(workdir, params_file):
    src = workdir / "imagenet"
    for wnid in ("n01440764", "n02102040", "n03000684"):
        write_image(src / wnid / f"{wnid}_1.JPEG".replace(".JPEG", ".jpg"))
    params_file(workdir / "params.yaml", datasets={"inet": {"prepare": {
        "source": "folder", "folder": str(src), "classes": ["n01440764", "n03000684"]}}})
    prepare.main(["--dataset", "inet"])
    assert sorted(p.parent.name for p in (workdir / "data/inet/images").rglob("*.jpg")) == [
        "n01440764", "n03000684"]
    params_file(workdir / "params.yaml", datasets={"inet": {
        "prepare": {"source": "folder", "folder": str(src), "classes": ["n99999999"]}}})
    with pytest.raises(ValueError, match="n99999999.*not sub-folders"):
        prepare.main(["--dataset", "inet"])


def test_imagenet_synset_folders_map_to_imagenet_indices():
    from jaxconcepts.store import label_indices

    idx, names = label_indices(["n01440764", None, "n03000684"], 1000)
    assert idx == [0, -1, 491] and names is None
    idx, names = label_indices(["b", "a"], 2)
    assert idx == [1, 0] and names == ["a", "b"]


def test_dataset_overrides_merge_deeply():
    params = {"extract": {"model": "a", "batch_size": 4},
              "datasets": {"x": {"extract": {"model": "b"}}}}
    assert dataset_params(params, "x")["extract"] == {"model": "b", "batch_size": 4}
    with pytest.raises(ValueError, match="valid choices: \\['x'\\]"):
        dataset_params(params, "y")


def test_bad_prepare_source_lists_choices(workdir, params_file):
    params_file(workdir / "params.yaml", datasets={"d": {"prepare": {"source": "web"}}})
    with pytest.raises(ValueError, match="valid choices"):
        prepare.main(["--dataset", "d"])


def test_dvc_pipeline_declares_every_stage_module():
    """Every stage in dvc.yaml is a jaxconcepts command that exists, with its params sections."""
    root = Path(__file__).parents[2]
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    params = yaml.safe_load((root / "params.yaml").read_text())
    for name, stage in dvc["stages"].items():
        body = stage.get("do", stage)
        cmd = body["cmd"]
        assert cmd.startswith("jaxconcepts "), name
        assert cmd.split()[1] in cli.stages(), name
        for p in body.get("params", []):
            if isinstance(p, dict):  # `- params.yaml:` tracks the whole file
                assert all((root / f).is_file() for f in p), f"{name}: {p}"
                continue
            top = p.split(".")[0]
            assert top in params, f"{name}: params section {top!r} missing from params.yaml"
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    assert set(lock["stages"]) >= {"prepare@photos", "extract@photos"}
    json.dumps(lock)  # plain data


def _dvc() -> str:
    """``dvc`` is a dependency of the package, so the running interpreter's environment has it
    wherever the checkout is (a fresh clone's own .venv, CI's, a developer's): its ``bin``
    first, then PATH. Missing is a failure, not a skip."""
    here = Path(sys.executable).parent
    found = shutil.which("dvc", path=str(here)) or shutil.which("dvc")
    assert found, f"dvc (a jaxconcepts dependency) is neither beside {sys.executable} nor on PATH"
    return found


@pytest.mark.slow
def test_dvc_push_clone_pull_is_up_to_date_without_rerunning(tmp_path, params_file):
    """repro → push to a folder remote → fresh clone → pull → `dvc status` clean, no rerun."""
    import os
    import subprocess

    DVC = _dvc()
    root = Path(__file__).parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")

    def sh(*cmd, cwd):
        r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, f"{cmd}: {r.stdout}\n{r.stderr}"
        return r.stdout

    repo, remote, clone = tmp_path / "repo", tmp_path / "remote", tmp_path / "clone"
    for i in range(3):
        write_image(repo / "data/tiny/images" / f"{i}.png", seed=i)
    params_file(repo / "params.yaml", datasets={"tiny": {"extract": {
        "model": "resnet10t", "weights": "random", "image_size": 32, "workers": 0,
        "model_kwargs": {"num_classes": 2}}}})
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"extract": {
        "cmd": f"{sys.executable} -m jaxconcepts.cli extract --dataset tiny",
        "deps": ["data/tiny/images"], "params": ["seed", "extract", "datasets.tiny"],
        "outs": ["data/tiny/activations"]}}}))
    sh("git", "init", "-q", cwd=repo)
    sh(DVC, "init", "-q", cwd=repo)
    sh(DVC, "add", "-q", "data/tiny/images", cwd=repo)
    sh(DVC, "remote", "add", "-d", "local", remote, cwd=repo)
    sh(DVC, "repro", "-q", cwd=repo)
    sh(DVC, "push", "-q", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "tiny pipeline", cwd=repo)
    sh("git", "clone", "-q", repo, clone, cwd=tmp_path)
    sh(DVC, "pull", "-q", cwd=clone)
    assert "up to date" in sh(DVC, "status", cwd=clone)
    assert (clone / "data/tiny/activations/manifest.json").read_bytes() == (
        repo / "data/tiny/activations/manifest.json").read_bytes()
    assert len(ActivationStore(clone / "data/tiny/activations")) == 3
    assert not (clone / "data/tiny/activations.partial").exists()


@pytest.mark.slow
def test_dvc_repro_killed_mid_extraction_resumes(tmp_path, params_file):
    """SIGKILL `dvc repro` after a shard is committed; the next `dvc repro` resumes from it."""
    import os
    import signal
    import subprocess
    import time

    DVC = _dvc()
    root = Path(__file__).parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), DVC_NO_ANALYTICS="1")
    repo = tmp_path / "repo"
    for i in range(24):
        write_image(repo / "data/tiny/images" / f"{i:02d}.png", size=(64, 64), seed=i)
    params_file(repo / "params.yaml", datasets={"tiny": {"extract": {
        "model": "tf_efficientnet_lite0", "weights": "random", "image_size": 160, "workers": 0,
        "batch_size": 1, "shard_size": 1, "threads": 1}}})
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"extract": {
        "cmd": f"{sys.executable} -m jaxconcepts.cli extract --dataset tiny",
        "deps": ["data/tiny/images"], "params": ["seed", "extract", "datasets.tiny"],
        "outs": ["data/tiny/activations"]}}}))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([DVC, "init", "-q"], cwd=repo, env=env, check=True)
    p = subprocess.Popen([DVC, "repro"], cwd=repo, env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = repo / "data/tiny/activations.partial"
    deadline = time.monotonic() + 240
    while not list(ckpt.glob("shard-*.json")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGKILL)  # dvc and the stage command it runs
    p.wait()
    n_done = len(list(ckpt.glob("shard-*.json")))
    assert 1 <= n_done < 24 and not (repo / "data/tiny/activations").exists()
    r = subprocess.run([DVC, "repro"], cwd=repo, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "extract: resuming" in r.stdout + r.stderr
    assert len(ActivationStore(repo / "data/tiny/activations")) == 24 and not ckpt.exists()
    st = subprocess.run([DVC, "status"], cwd=repo, env=env, capture_output=True, text=True)
    assert "up to date" in st.stdout
