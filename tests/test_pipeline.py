"""The parallel pipeline runner: DVC's stages and lock, two stages at once, failures stop it."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from jaxconcepts.pipeline import run_pipeline, stage_env

pytestmark = pytest.mark.slow  # DVC repositories in subprocesses and Repo objects


def _stage(name, body, deps=(), outs=()):
    cmd = f'{sys.executable} -c "{body}"'
    lines = [f"  {name}:", f"    cmd: {cmd}"]
    if deps:
        lines.append(f"    deps: [{', '.join(deps)}]")
    lines.append(f"    outs: [{', '.join(outs)}]")
    return "\n".join(lines)


def _repo(tmp_path, stages):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "dvc.yaml").write_text("stages:\n" + "\n".join(stages) + "\n")
    return tmp_path


def _stamp(name, dep=None, sleep=1.0, fail=False):
    """A stage writing <name>.txt (its dep's text + its name) and its start/end times."""
    read = f"open('{dep}.txt').read()" if dep else "''"
    return textwrap.dedent(f"""\
        import time; t0 = time.time(); time.sleep({sleep}); {'raise SystemExit(3)' if fail else ''}
        open('{name}.txt', 'w').write({read} + '{name}')
        open('{name}.t', 'w').write(f'{{t0}} {{time.time()}}')
        """).replace("\n", "; ").rstrip("; ").replace(";;", ";").replace("; ;", ";")


def _run(root, *args):
    """The runner's command line in ``root``: (exit status, stdout + stderr)."""
    p = subprocess.run([sys.executable, "-m", "jaxconcepts.pipeline", *args], cwd=root,
                       capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def _status(root):
    from dvc.repo import Repo

    return Repo(str(root)).status()


def test_two_stages_run_at_once_and_dvc_lock_is_what_dvc_repro_writes(tmp_path):
    root = _repo(tmp_path, [
        _stage("a", _stamp("a"), outs=["a.txt", "a.t"]),
        _stage("b", _stamp("b", "a"), deps=["a.txt"], outs=["b.txt", "b.t"]),
        _stage("c", _stamp("c"), outs=["c.txt", "c.t"])])
    assert run_pipeline(root, jobs=2) == 0
    (a0, a1), (c0, c1), (b0, _) = ([float(x) for x in (root / f"{n}.t").read_text().split()]
                                   for n in "acb")
    assert c0 < a1 and a0 < c1  # a and c overlapped
    assert b0 >= a1  # b waited for a
    assert (root / "b.txt").read_text() == "ab"
    assert _status(root) == {}  # dvc status: everything recorded and up to date
    assert set(json.loads((root / ".dvc/tmp/run-seconds.json").read_text())) == {"a", "b", "c"}
    out = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=root, capture_output=True,
                         text=True, check=True).stdout
    assert "up to date" in out and "Running stage" not in out
    rc, out = _run(root)
    assert rc == 0 and out.count("skip ") == 3


def test_a_failed_stage_stops_what_depends_on_it_and_keeps_the_rest(tmp_path):
    root = _repo(tmp_path, [
        _stage("a", _stamp("a", fail=True), outs=["a.txt", "a.t"]),
        _stage("b", _stamp("b", "a"), deps=["a.txt"], outs=["b.txt", "b.t"]),
        _stage("c", _stamp("c", sleep=2.0), outs=["c.txt", "c.t"])])
    rc, out = _run(root, "--jobs", "2")
    assert rc == 1 and "stage a failed (exit 3)" in out and "run-logs/a.log" in out
    assert not (root / "b.txt").exists()
    assert (root / "c.txt").read_text() == "c"  # running when a failed: finished and recorded
    assert {k.rsplit(":", 1)[-1] for k in _status(root)} == {"a", "b"}


def test_targets_run_with_their_upstream_only(tmp_path):
    root = _repo(tmp_path, [
        _stage("a", _stamp("a", sleep=0), outs=["a.txt", "a.t"]),
        _stage("b", _stamp("b", "a", sleep=0), deps=["a.txt"], outs=["b.txt", "b.t"]),
        _stage("c", _stamp("c", sleep=0), outs=["c.txt", "c.t"])])
    assert run_pipeline(root, jobs=2, targets=["b"]) == 0
    assert not (root / "c.txt").exists() and (root / "b.txt").is_file()
    rc, out = _run(root, "--force", "b")
    assert rc == 0 and "start a" in out and "start b" in out and "start c" not in out
    with pytest.raises(SystemExit, match="unknown stage"):
        run_pipeline(root, targets=["nope"])


def test_ready_stages_heading_the_longest_chain_go_first():
    import networkx as nx

    from jaxconcepts.pipeline import _priorities

    class S:
        def __init__(self, name):
            self.addressing = name

    a, b, c, d = (S(n) for n in "abcd")
    g = nx.DiGraph([(b, a), (d, c)])  # b needs a, d needs c
    p = _priorities(g, {a, b, c, d}, {"a": 5, "b": 100, "c": 50, "d": 1})
    assert p[a] == 105 and p[c] == 51 and p[a] > p[c] > p[b] - 50



def test_a_stage_with_no_recorded_time_is_estimated_from_the_same_stage_elsewhere():
    from jaxconcepts.pipeline import _estimate

    seconds = {"extract@a": 10, "extract@b": 30, "extract@c": 20, "train": 5}
    assert _estimate("extract@a", seconds) == 10  # its own
    assert _estimate("extract@new", seconds) == 20  # the median of extract@*
    assert _estimate("recovery@new", seconds) == 1.0 and _estimate("index", seconds) == 1.0


def test_a_second_pipeline_runs_only_when_named(tmp_path):
    """Like a plain ``dvc repro``, the runner runs the root dvc.yaml; a dvc.yaml in a sub-folder
    (the scoreboard's) runs only when its stage is named."""
    root = _repo(tmp_path, [_stage("a", _stamp("a", sleep=0), outs=["a.txt", "a.t"])])
    (root / "second").mkdir()
    (root / "second" / "dvc.yaml").write_text(
        "stages:\n" + _stage("s", _stamp("s", sleep=0), outs=["s.txt", "s.t"]) + "\n")
    assert run_pipeline(root, jobs=2) == 0
    assert (root / "a.txt").is_file() and not (root / "second" / "s.txt").exists()
    assert run_pipeline(root, jobs=2, targets=["second/dvc.yaml:s"]) == 0
    assert (root / "second" / "s.txt").read_text() == "s"


def test_stages_run_two_at_a_time_share_the_cores_among_their_blas_threads(tmp_path, monkeypatch):
    assert stage_env(2, {}, cores=2)["OPENBLAS_NUM_THREADS"] == "1"
    assert stage_env(1, {}, cores=2)["OPENBLAS_NUM_THREADS"] == "2"
    assert stage_env(4, {}, cores=2)["OPENBLAS_NUM_THREADS"] == "1"
    assert stage_env(2, {"OPENBLAS_NUM_THREADS": "3"}, cores=8)["OPENBLAS_NUM_THREADS"] == "3"
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    body = ("import os; open('t.txt', 'w').write(os.environ.get('OPENBLAS_NUM_THREADS', '-'))")
    root = _repo(tmp_path, [_stage("t", body, outs=["t.txt"])])
    assert run_pipeline(root, jobs=2) == 0
    assert (root / "t.txt").read_text() == str(max(1, (os.cpu_count() or 1) // 2))
