"""The command line (``jaxconcepts/cli.py``): the stage list, the compile cache and level every
stage sets, the malloc tunables' restart."""

import os
import subprocess
import sys

import pytest

from jaxconcepts import cli


def test_cli_lists_stages_and_rejects_unknown(capsys):
    cli.main(["--help"])
    out = capsys.readouterr().out
    assert "extract" in out and "prepare" in out
    with pytest.raises(SystemExit, match="did you mean extract"):
        cli.main(["extrct"])


def test_the_command_line_restarts_once_with_the_malloc_tunables(monkeypatch):
    calls = []
    monkeypatch.setattr(cli.os, "execv", lambda exe, args: calls.append((exe, args)))
    monkeypatch.setattr(cli.sys, "platform", "linux")
    monkeypatch.delenv("JAXCONCEPTS_MALLOC", raising=False)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0")
    cli.tune_malloc_and_reexec(["c2mf", "--dataset", "x"])
    assert calls == [(cli.sys.executable,
                      [cli.sys.executable, "-m", "jaxconcepts.cli", "c2mf", "--dataset", "x"])]
    assert cli.os.environ["GLIBC_TUNABLES"] == "glibc.pthread.rseq=0:" + cli.MALLOC_TUNABLES
    cli.tune_malloc_and_reexec(["c2mf"])  # already set (the restarted process): no second exec
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")  # the user's own: kept
    cli.tune_malloc_and_reexec(["c2mf"])
    monkeypatch.delenv("GLIBC_TUNABLES")
    monkeypatch.setenv("JAXCONCEPTS_MALLOC", "0")
    cli.tune_malloc_and_reexec(["c2mf"])
    assert len(calls) == 1


def test_stages_keep_compiled_programs_in_a_cache_unless_told_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.delenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", raising=False)
    monkeypatch.chdir(tmp_path)
    cli.use_compilation_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / ".jax_cache")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "")  # the user's choice (here: off) wins
    cli.use_compilation_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == ""


def test_stages_compile_cpu_programs_at_level_1_unless_told_otherwise(monkeypatch):
    monkeypatch.setattr(cli, "_ACCELERATOR_PLUGINS", ())
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    cli.use_cpu_compile_level()
    assert os.environ["XLA_FLAGS"] == ("--xla_force_host_platform_device_count=2 "
                                       "--xla_backend_optimization_level=1")
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=2")  # yours wins
    cli.use_cpu_compile_level()
    assert os.environ["XLA_FLAGS"] == "--xla_backend_optimization_level=2"
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setattr(cli, "_ACCELERATOR_PLUGINS", ("json",))  # an installed "plugin"
    cli.use_cpu_compile_level()
    assert "XLA_FLAGS" not in os.environ


def test_compile_bound_stages_drop_the_fusion_emitters_where_jaxlib_knows_the_flag(monkeypatch):
    monkeypatch.setattr(cli, "_ACCELERATOR_PLUGINS", ())
    monkeypatch.setattr(cli, "_jaxlib_knows_fusion_emitters", lambda: True)
    for stage, want in (("concepts", "--xla_backend_optimization_level=1 "
                                     "--xla_cpu_use_fusion_emitters=false"),
                        ("c2mf", "--xla_backend_optimization_level=1"),
                        (None, "--xla_backend_optimization_level=1")):
        monkeypatch.delenv("XLA_FLAGS", raising=False)
        cli.use_cpu_compile_level(stage)
        assert os.environ["XLA_FLAGS"] == want, stage
    # yours wins, for each flag on its own
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    cli.use_cpu_compile_level("concepts")
    assert os.environ["XLA_FLAGS"] == ("--xla_cpu_use_fusion_emitters=true "
                                       "--xla_backend_optimization_level=1")
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=0")
    cli.use_cpu_compile_level("compare")
    assert os.environ["XLA_FLAGS"] == ("--xla_backend_optimization_level=0 "
                                       "--xla_cpu_use_fusion_emitters=false")
    # a jaxlib not known to have the flag never gets it (an unknown XLA flag aborts the process)
    monkeypatch.setattr(cli, "_jaxlib_knows_fusion_emitters", lambda: False)
    monkeypatch.delenv("XLA_FLAGS")
    cli.use_cpu_compile_level("concepts")
    assert os.environ["XLA_FLAGS"] == "--xla_backend_optimization_level=1"


def test_the_fusion_emitters_flag_is_set_only_for_tested_jaxlib_versions(monkeypatch):
    import importlib.metadata

    for v, want in (("0.10.2", True), ("0.10.0", True), ("0.9.1", False), ("0.11.0", False),
                    ("1.0", False), ("dev", False)):
        monkeypatch.setattr(importlib.metadata, "version", lambda _name, v=v: v)
        assert cli._jaxlib_knows_fusion_emitters() is want, v


@pytest.mark.slow
def test_the_installed_jaxlib_accepts_the_flags_the_stages_set():
    """Where the installed jaxlib is one the stages set the flag for, a backend starts with it."""
    if not cli._jaxlib_knows_fusion_emitters():
        pytest.skip("the installed jaxlib is not one the stages set the flag for")
    env = dict(os.environ, XLA_FLAGS=f"{cli.CPU_COMPILE_LEVEL} {cli.NO_FUSION_EMITTERS}",
               JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", "import jax; print(jax.numpy.ones(3).sum())"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "3.0", r.stderr[-2000:]
