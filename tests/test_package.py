"""The package root: its public names resolve, and importing it has no side effect."""

import os
import subprocess
import sys

import pytest

import jaxconcepts

_PROBE = """
import matplotlib
matplotlib.use("svg")
{imports}
import sys

import pytest
assert matplotlib.get_backend().lower() == "svg", matplotlib.get_backend()
print(",".join(sorted(m for m in ("jax", "torch", "matplotlib.pyplot") if m in sys.modules)))
"""


def _probe(imports: str) -> str:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(imports=imports)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_leaves_matplotlib_backend_and_loads_nothing_heavy():
    assert _probe("import jaxconcepts") == ""  # no jax, torch or pyplot on import


@pytest.mark.slow
def test_drawing_a_figure_keeps_the_backend():
    code = ("import numpy as np, jaxconcepts, jaxconcepts.viz as v, io\n"
            "fig = v.plot_concepts(np.zeros((4, 4)), np.zeros((2, 4, 4)), np.ones(2), np.ones(2))\n"
            "fig.savefig(io.BytesIO(), format='png')\n"
            "jaxconcepts.concept_maps")
    loaded = _probe(code)
    assert "torch" not in loaded and "matplotlib.pyplot" not in loaded


def test_public_names_resolve():
    for name in jaxconcepts.__all__:
        assert getattr(jaxconcepts, name) is not None, name
    assert set(jaxconcepts.__all__) <= set(dir(jaxconcepts))


def test_stages_keep_compiled_programs_in_a_cache_unless_told_otherwise(tmp_path, monkeypatch):
    from jaxconcepts.cli import use_compilation_cache

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.delenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", raising=False)
    monkeypatch.chdir(tmp_path)
    use_compilation_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / ".jax_cache")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "")  # the user's choice (here: off) wins
    use_compilation_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == ""


def test_stages_compile_cpu_programs_at_level_1_unless_told_otherwise(monkeypatch):
    from jaxconcepts import cli

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
