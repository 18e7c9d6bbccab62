"""The ground's classes, and C2MF / CRAFT / PCA scored like the SAEs (tiny grounds, fast)."""

import numpy as np
import pytest

from jaxconcepts.sae import (
    ClassDictionary,
    class_fitters,
    feature_groups,
    load_feature_store,
    mcc,
    nonnegative_ceiling,
    score_fit,
    synthetic_classes,
    synthetic_features,
    synthetic_scoreboard,
    write_feature_store,
)


def test_groups_deal_top_level_features_round_robin_and_children_follow_parents():
    parent = np.array([-1, -1, -1, 0, -1, 2, 1])
    # top-level 0, 1, 2, 4 get ranks 0..3 -> groups 0, 1, 0, 1; children take their parent's
    np.testing.assert_array_equal(feature_groups(parent, 2), [0, 1, 0, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="n_classes=5 should be <= the 4 top-level"):
        feature_groups(parent, 5)


def test_a_rows_class_is_its_strongest_group():
    groups = np.array([0, 1, 0, 2])
    U = np.array([[0.5, 0.9, 0.5, 0.0],   # group 0 has 1.0 > 0.9
                  [0.0, 0.9, 0.5, 0.0],   # group 1
                  [0.0, 0.0, 0.0, 0.2],   # group 2
                  [0.0, 0.0, 0.0, 0.0],   # silent: the smallest class
                  [0.0, 0.3, 0.0, 0.3]])  # tie: the smallest class
    np.testing.assert_array_equal(synthetic_classes(U, groups, 3), [0, 1, 2, 0, 1])


def test_classes_in_memory_and_in_a_one_shard_store_agree(tmp_path):
    # one row per image and one shard: the store draws exactly synthetic_features's rows
    d = synthetic_features(300, dim=8, n_features=12, seed=4, n_classes=3, hierarchy=0.25)
    write_feature_store(tmp_path, n_images=300, hw=(1, 1), dim=8, n_features=12, seed=4,
                        images_per_shard=512, n_classes=3, hierarchy=0.25)
    A, y, W = load_feature_store(tmp_path)
    np.testing.assert_array_equal(A, d.A)
    np.testing.assert_array_equal(y, d.y)
    np.testing.assert_array_equal(W, d.W)
    groups = feature_groups(d.parent, 3)
    np.testing.assert_array_equal(d.y, synthetic_classes(d.U, groups, 3))
    assert set(np.unique(y)) == {0, 1, 2}
    # without n_classes: no classes, the same rows
    np.testing.assert_array_equal(synthetic_features(300, dim=8, n_features=12, seed=4,
                                                     hierarchy=0.25).A, d.A)


def test_nonnegative_ceiling_by_hand():
    W = np.array([[1.0, -1.0], [3.0, 4.0], [-2.0, 0.0]])
    # |cos| of the best non-negative atom: max(|w+|, |w-|) / |w| = 1/sqrt(2), 1, 1
    assert nonnegative_ceiling(W) == pytest.approx((2 ** -0.5 + 2) / 3)


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    """An easy ground: 6 atoms in 12 dims, one active per row, 2 classes, as a store."""
    p = tmp_path_factory.mktemp("easy")
    write_feature_store(p, n_images=600, hw=(1, 1), dim=12, n_features=6, seed=2,
                        images_per_shard=200, n_classes=2, mean_active=1, zipf=0.0, noise=0.02)
    return p, *load_feature_store(p)


def test_pooled_pca_codes_and_reconstruction(easy):
    store, A, y, W = easy
    fit, rand, A_m = class_fitters("pca", A, y, n_classes=2, store=store, settings={})
    m = fit(3, 0)
    assert isinstance(m, ClassDictionary) and m.W.shape == (6, 12) and A_m is not None
    U = m.transform(A, y)
    assert U.shape == (600, 6)
    # a row's codes live in its class's block only
    assert not U[y == 0][:, 3:].any() and not U[y == 1][:, :3].any()
    direct = np.asarray(m.model.reconstruct(m.model.transform(A, y), y))
    np.testing.assert_allclose(m.reconstruct(U, y), direct, atol=1e-5)
    s = score_fit(m, A, W, y)
    assert 0 <= s["mcc"] <= 1 and s["r2"] > 0.5 and s["dead"] == 0
    assert rand(3, 0).shape == (6, 12)
    assert mcc(m.W, W) > mcc(rand(3, 0), W)


def test_pca_row_beats_random_on_an_easy_ground(easy, tmp_path):
    store, A, y, W = easy
    (row,) = synthetic_scoreboard(A, W, tmp_path, methods=["pca"], targets=(0.8,), y=y,
                                  store=store)
    assert row["reached"] and row["path"] == "streamed" and row["data"] == "A"
    assert 0 <= row["mcc"] <= 1 and row["r2"] >= 0.8
    assert row["vs_random"]["low"] > 0 and row["mcc"] > row["random_mcc"]
    assert row["stability"]["pw_mcc"] == pytest.approx(1.0)  # deterministic: one fit


def test_class_methods_name_what_they_miss(easy):
    store, A, y, _ = easy
    with pytest.raises(ValueError, match="needs each row's class"):
        class_fitters("craft", A, None, n_classes=2, settings={"max_iter": 5, "tol": 1e-4})
    with pytest.raises(ValueError, match="give store"):
        class_fitters("pca", A, y, n_classes=2, settings={})
    with pytest.raises(ValueError, match="expected \\['max_iter', 'tol'\\]"):
        class_fitters("craft", A, y, n_classes=2, settings={"max_iter": 5})
    with pytest.raises(ValueError, match="holds 600 rows; A has 599"):
        class_fitters("pca", A[:-1], y[:-1], n_classes=2, store=store, settings={})[0](2, 0)


@pytest.mark.slow
def test_craft_fits_max_of_a_and_zero(easy):
    store, A, y, W = easy
    fit, rand, A_m = class_fitters("craft", A, y, n_classes=2,
                                   settings={"max_iter": 30, "tol": 1e-4})
    np.testing.assert_array_equal(A_m, np.maximum(A, 0))
    m = fit(2, 0)
    assert m.W.shape == (4, 12) and (m.W >= 0).all() and (rand(2, 1) >= 0).all()
    assert score_fit(m, A_m, W, y)["mcc"] <= nonnegative_ceiling(W) + 1e-9


@pytest.mark.slow
def test_streamed_topk_row_beside_the_in_memory_one(easy, tmp_path):
    store, A, y, W = easy
    fit = dict(width=8, epochs=1, batch_size=200, learning_rate=3e-3)
    rows = synthetic_scoreboard(A, W, tmp_path, methods=["topk"], targets=(0.05,),
                                knobs={"topk": ("k", 2, 2)}, fit_kwargs=fit, store=store,
                                streamed=["topk"])
    mem, streamed = rows
    assert (mem["path"], streamed["path"]) == ("in_memory", "streamed")
    assert streamed["method"] == "topk" and streamed["value"] == mem["value"] == 2
    for r in rows:
        assert r["stability"]["pairs"] == 10 and 0 <= r["stability"]["pw_mcc"] <= 1
        assert r["vs_random"]["n"] == 5
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["topk-r2_0.05-k_2", "topk-streamed-r2_0.05-k_2"]
    with pytest.raises(ValueError, match="streamed=\\['kmeans'\\]"):
        synthetic_scoreboard(A, W, tmp_path, methods=["kmeans"], store=store,
                             streamed=["kmeans"])
