"""dvc.yaml declares every module a stage runs, so `dvc status` cannot call stale results fresh.

Each stage module is imported in a fresh interpreter by ``tests/stages/_loaded.py``, which follows
every jaxconcepts import the module can reach (function-level imports and lazy ``__getattr__``
loaders included). Every loaded source file must lie under one of the stage's declared deps, in
every ``foreach`` instance of the stage. A stage that starts importing a new module fails here
until ``dvc.yaml`` declares it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _outs() -> dict[str, bool]:
    """{output path: cached in DVC} of every stage of dvc.yaml, foreach expanded by DVC."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return {o.def_path: bool(o.use_cache) for st in repo.index.stages for o in st.outs}


def _stages() -> dict[str, tuple[str, list[str]]]:
    """{stage address: (stage module, declared deps)} from dvc.yaml, foreach expanded by DVC."""
    from dvc.repo import Repo

    out = {}
    with Repo(str(ROOT)) as repo:
        for st in repo.index.stages:
            argv = shlex.split(st.cmd if isinstance(st.cmd, str) else " ".join(st.cmd))
            assert argv[0] == "jaxconcepts", f"{st.addressing}: cmd {st.cmd!r} is not the CLI"
            out[st.addressing] = (f"jaxconcepts.stages.{argv[1]}", [d.def_path for d in st.deps])
    return out


def _trace(*modules: str):
    res = subprocess.run([sys.executable, "-m", "tests.stages._loaded", *modules], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@cache
def _loaded_all() -> dict[str, list[str]]:
    """Every stage module's loaded files, traced in one interpreter (a forked child each)."""
    modules = {m for m, _ in STAGES.values()}
    modules |= {"jaxconcepts.stages.prepare", "jaxconcepts.stages.figures"}
    return _trace(*sorted(modules))


def _loaded(module: str) -> tuple[str, ...]:
    return tuple(_loaded_all()[module])


def undeclared(loaded: list[str] | tuple[str, ...], deps: list[str]) -> list[str]:
    """The loaded files under no declared dep (a dep is a file or a folder)."""
    roots = [d.rstrip("/") for d in deps]
    return [f for f in loaded if not any(f == r or f.startswith(r + "/") for r in roots)]


STAGES = _stages()


def test_undeclared_is_strict():
    assert undeclared(["jaxconcepts/viz/_plan.py", "jaxconcepts/_io.py"],
                      ["jaxconcepts/viz", "jaxconcepts/_io.py"]) == []
    assert undeclared(["jaxconcepts/viz_extra.py", "jaxconcepts/_io.py"],
                      ["jaxconcepts/viz", "jaxconcepts/_io"]) == ["jaxconcepts/viz_extra.py",
                                                                    "jaxconcepts/_io.py"]


def test_every_dataset_runs_every_per_dataset_stage():
    datasets = yaml.safe_load((ROOT / "params.yaml").read_text())["datasets"]
    for stage in ("prepare", "extract", "crops", "concepts", "compare", "importance", "figures",
                  "c2mf", "report"):
        assert {f"{stage}@{ds}" for ds in datasets} <= set(STAGES), stage


@pytest.mark.slow
def test_forked_tracing_equals_a_fresh_interpreter():
    """The forked children (third-party packages preloaded) load what a fresh interpreter does."""
    for module in ("jaxconcepts.stages.prepare", "jaxconcepts.stages.figures"):
        fresh = _trace(module)
        assert fresh and _loaded(module) == tuple(fresh), module


@pytest.mark.slow
@pytest.mark.parametrize("address", sorted(STAGES))
def test_stage_declares_every_module_it_runs(address):
    module, deps = STAGES[address]
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), f"{address}: no {module}"
    missing = undeclared(_loaded(module), deps)
    assert not missing, (f"dvc.yaml stage {address!r} runs {missing} but does not declare them "
                         "in its deps")


@pytest.mark.parametrize("address", sorted(STAGES))
def test_declared_code_deps_exist(address):
    _, deps = STAGES[address]
    stale = [d for d in deps if d.startswith("jaxconcepts/") and not (ROOT / d).exists()]
    assert not stale, f"dvc.yaml stage {address!r} declares missing paths {stale}"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout


@pytest.mark.slow
def test_cached_outputs_are_not_in_git_and_figures_are_cached():
    """What DVC caches is git-ignored and untracked (else `dvc repro` on a fresh clone fails with
    an output already tracked by git); figures are cached, small reports are in git."""
    outs = _outs()
    for path, cached in outs.items():
        if cached:
            assert not _git("ls-files", "--", path).strip(), f"{path} is cached by DVC but in git"
            assert _git("check-ignore", "--no-index", path + "/x").strip() or \
                _git("check-ignore", "--no-index", path).strip(), f"{path} is not git-ignored"
    datasets = yaml.safe_load((ROOT / "params.yaml").read_text())["datasets"]
    for ds in datasets:
        assert outs[f"reports/{ds}/figures"] and outs[f"reports/{ds}/c2mf_figures"]
        assert not outs[f"reports/{ds}.html"] and not outs[f"reports/{ds}/compare.md"]
    pngs = [f for f in _git("ls-files", "reports").splitlines() if f.endswith(".png")]
    assert not pngs, f"PNGs tracked by git: {pngs[:5]}"
