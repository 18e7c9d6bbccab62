"""Fixtures of the stage tests."""

import pytest


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
