"""The README's research-script examples run as written (on small synthetic stores)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests._builders import write_headed_store

README = Path(__file__).resolve().parents[1] / "README.md"


def _example(marker: str) -> str:
    section = README.read_text().split("## From a research script", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (code,) = [b for b in blocks if marker in b]
    return code


def _store(path, *, n_images: int, n_classes: int = 3):
    """A synthetic store with a GAP + linear head that separates its classes."""
    return write_headed_store(path, n_images=n_images, n_classes=n_classes)


def _run(code: str, old: str, store) -> dict:
    assert f'"{old}"' in code
    ns: dict = {}
    exec(compile(code.replace(f'"{old}"', repr(str(store))), "README", "exec"), ns)
    return ns


def test_readme_imports_no_private_module():
    for code in (_example("cgap("), _example("fit_c2mf("), _example("run_c2mf(")):
        assert not re.search(r"jaxconcepts[\w.]*\._", code), code


@pytest.mark.slow
def test_readme_concepts_example_runs(tmp_path):
    store = _store(tmp_path / "store", n_images=8)
    ns = _run(_example("cgap("), "data/photos/activations", store)
    c, imp, maps = ns["c"], ns["imp"], ns["maps"]
    assert c.labels.shape == (8, 32) and imp.importance.shape == (8, 5)
    assert maps.maps.shape == (8, 5, 224, 224)
    m = np.asarray(maps.maps)
    assert np.all((m >= 0) & (m <= 1)) and np.isfinite(np.asarray(imp.importance)).all()


@pytest.mark.slow
def test_readme_c2mf_example_runs_and_reconstructs(tmp_path):
    store = _store(tmp_path / "store", n_images=24)
    ns = _run(_example("fit_c2mf("), "data/objects/activations", store)
    A, U, model, test = ns["A"], ns["U"], ns["model"], ns["test"]
    assert A.shape == (16 * 64, 32) and U.shape == (A.shape[0], 10)
    assert model.W.shape == (10, 32) and model.gates.shape == (3, 10)
    assert np.all(np.asarray(U) >= 0) and np.all(np.asarray(U) <= 1)
    rel_err = np.linalg.norm(A - np.asarray(model.reconstruct(U, ns["y"]))) / np.linalg.norm(A)
    assert 0 < rel_err < 0.1  # 10 atoms for 6 planted ones, 1 % noise: a close fit
    t1, t2, t3, curves = ns["table1"], ns["table2"], ns["table3"], ns["curves"]
    assert 0 <= t1["cosine_mean"] <= 1 and t1["n_pairs"] == 3 * 90  # pairs within each class
    assert 0 <= t2["acc_pred_mean"] <= 1 and np.isnan(t2["acc_label_mean"])  # no labels given
    assert 0 <= t3["train_mse"] and np.isfinite(t3["difference"])
    n_test = int(test.sum())
    assert curves.insertion.shape == (n_test, 11) and curves.insertion_auc.shape == (n_test,)
    # a curve is a probability; all concepts inserted = none deleted
    np.testing.assert_allclose(curves.insertion[:, -1], curves.deletion[:, 0], rtol=1e-5)


@pytest.mark.slow
def test_readme_runner_example_runs_with_the_typed_section(tmp_path, monkeypatch):
    store = _store(tmp_path / "store", n_images=24)
    monkeypatch.chdir(README.parent)  # load_section reads ./params.yaml, as from the repo root
    ns = _run(_example("run_c2mf("), "data/planted/activations", store)
    metrics, cfg = ns["metrics"], ns["cfg"]
    assert list(cfg.k) == [10] and cfg.methods == ["c2mf", "pca"]
    assert set(metrics["results"]) == {"c2mf", "pca"}
    assert set(metrics["results"]["c2mf"]) == {"k10"}
    assert ns["fits"] is not None
