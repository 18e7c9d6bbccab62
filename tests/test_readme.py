"""The README's research-script C2MF example runs as written (on a small synthetic store)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _c2mf_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (code,) = [b for b in blocks if "fit_c2mf(" in b]
    return code


@pytest.mark.slow
def test_readme_c2mf_example_runs_and_reconstructs(tmp_path):
    from jaxconcepts.streaming._synthetic import write_synthetic_store

    store = tmp_path / "store"
    write_synthetic_store(store, n_images=24, channels=32, k=6, n_classes=3, dtype="float32",
                          nonnegative=True, noise=0.01)
    code = _c2mf_example()
    assert '"data/objects/activations"' in code
    ns: dict = {}
    exec(compile(code.replace('"data/objects/activations"', repr(str(store))), "README", "exec"),
         ns)
    A, U, model = ns["A"], ns["U"], ns["model"]
    assert A.shape == (24 * 64, 32) and U.shape == (A.shape[0], 10)
    assert model.W.shape == (10, 32) and model.gates.shape == (3, 10)
    assert 0 < ns["rel_err"] < 0.1  # 10 atoms for 6 planted ones, 1 % noise: a close fit
    assert np.all(np.asarray(U) >= 0) and np.all(np.asarray(U) <= 1)
