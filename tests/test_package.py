"""The package root: its public names resolve, and importing it has no side effect."""

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

