import numpy as np
import pytest

from jaxconcepts.sae import synthetic_features, write_feature_store


@pytest.fixture(scope="session")
def small():
    """1 024 rows of 16 dims from 24 Zipfian features (about 3 active per row)."""
    return synthetic_features(1024, dim=16, n_features=24, seed=3, mean_active=3)


@pytest.fixture(scope="session")
def feature_store(tmp_path_factory):
    """64 images of 4x4 rows x 16 dims, float32, 4 shards of 16 images."""
    p = tmp_path_factory.mktemp("sae_store")
    write_feature_store(p, n_images=64, hw=(4, 4), dim=16, n_features=24, seed=3,
                        images_per_shard=16, mean_active=3)
    return p


@pytest.fixture(scope="session")
def store_rows(feature_store):
    """The store's rows in manifest order ``(1024, 16)``."""
    from jaxconcepts.store import RowsView

    rows = RowsView(feature_store, images_per_batch=8, prefetch=0)
    return np.concatenate([b.A.reshape(-1, 16)[np.repeat(b.valid, 16)] for b in rows])


@pytest.fixture(scope="session")
def two_devices(feature_store, tmp_path_factory, launch):
    """Every SAE's and both streamed dictionaries' fits on a forced 2-device CPU mesh (one
    subprocess for ``tests/sae/test_streamed.py`` and ``test_streamed_dicts.py``)."""
    from jaxconcepts.sae import METHODS

    out = tmp_path_factory.mktemp("two") / "two.npz"
    launch("tests.sae._worker", feature_store, out, ",".join((*METHODS, "seminmf", "kmeans")),
           devices=2)
    return dict(np.load(out))


@pytest.fixture(scope="session")
def two_processes(feature_store, tmp_path_factory, launch):
    """TopK, BatchTopK (one step per group of 2 shards) and both streamed dictionaries in 2
    processes (jax.distributed on CPU, gloo, one device each; one launch for both test files: the
    dictionaries do not depend on the batches); the npz that process 0 writes."""
    out = tmp_path_factory.mktemp("twop") / "two.npz"
    launch("tests.sae._worker", feature_store, out, "topk,batchtopk,seminmf,kmeans", 2, 32,
           processes=2)
    return dict(np.load(out))
