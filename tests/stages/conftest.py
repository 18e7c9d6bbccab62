"""Fixtures of the stage tests."""

import numpy as np
import pytest

from jaxconcepts.store import StoreWriter

from tests._params import write_params
from tests.concepts.conftest import C, H, W, planted
from tests.stages._toy import K, S, _make_dataset


@pytest.fixture
def c2mf_params(params_file):
    """``c2mf_params(root, drop=(), naming=None, **c2mf)``: ``root/params.yaml``, the repository's
    params (every key is required) with small-run c2mf overrides; ``drop``: c2mf keys removed;
    ``naming``: the naming section, whole."""
    def write(root, drop=(), naming=None, **c2mf):
        cfg = {"k": [3, 40], "max_steps": 30, "nmf_max_iter": 30, "ig_steps": 4, "eval_batch": 4,
               "craft_source": "rows", "sobol_designs": 8, "atlas_k": None, "alpha_sweep": [],
               "controls": [3], **c2mf}
        named = {} if naming is None else {"naming": naming}
        return params_file(root / "params.yaml", whole=("datasets", "naming"),
                           drop=[f"c2mf.{k}" for k in drop], seed=0, datasets={"fake": {}},
                           c2mf=cfg, **named,
                           atlas={"top_images": 3, "max_concepts": 4},
                           # the stage opens the store through extract.image_root: the tests'
                           # images lie under cwd
                           extract={"image_root": "."})

    return write


@pytest.fixture
def concepts_workdir(tmp_path, monkeypatch):
    n = 5
    A = planted(n, seed=3)
    A[4] = 0  # an all-zero image
    with StoreWriter(tmp_path / "data/toy/activations", shard_size=3) as w:
        w.add(activations=A, logits=np.zeros((n, 2)), target=np.zeros(n), label=-np.ones(n),
              pred=np.zeros(n), prob=np.ones(n), index=np.arange(n))
        w.finish({"model": "fake", "shape": [C, H, W], "images": [], "skipped": [],
                  "head": {"kind": "other", "num_classes": 2}, "class_names": None})
    params = {
        "datasets": {"toy": {}},
        "concepts": {"n_concepts": 3, "n_sub_concepts": 2, "batch_size": 2, "group": 2},
        "compare": {"n_images": 4, "n_concepts": 3, "sweep": [2, 3], "batch_size": 4,
                    "algorithms": ["kmeans", "agglomerative", "gmm"]},
    }
    write_params(tmp_path / "params.yaml", **params)
    monkeypatch.chdir(tmp_path)
    return tmp_path, A


@pytest.fixture
def project(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    _make_dataset(tmp_path, "toy", rng)
    (tmp_path / "reports" / "toy").mkdir(parents=True)
    (tmp_path / "reports" / "toy" / "compare.md").write_text(
        "| method | silhouette |\n|---|---|\n| cgap | 0.40 |\n| cpha | 0.55 |\n"
    )
    (tmp_path / "reports" / "toy" / "recovery.md").write_text(
        "| metric | value |\n|---|---|\n| ARI | 0.9 |\n"
    )
    params = {
        "datasets": {"toy": {}, "empty": {}},
        "concepts": {"n_concepts": K, "n_sub_concepts": S},
        "importance": {"target": "pred", "batch_size": 2},
        "figures": {"max_images": 2, "dpi": 40},
        "report": {"title": "Toy report"},
    }
    write_params(tmp_path / "params.yaml", **params)
    monkeypatch.chdir(tmp_path)
    return tmp_path
