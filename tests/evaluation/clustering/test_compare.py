"""Lambert et al.'s Tables 1-2: the image sample is stratified by class and seeded."""

import numpy as np
import pytest

from jaxconcepts._params import parse_section
from jaxconcepts.evaluation.clustering._compare import stratified_sample


def test_stratified_sample_spreads_over_classes_and_is_seeded():
    labels = np.repeat([0, 1, 2, 3], [50, 30, 2, 18])  # store order: class 0 first
    pick = stratified_sample(labels, 20, seed=0)
    assert pick.size == 20 and np.unique(pick).size == 20 and np.all(np.diff(pick) > 0)
    counts = np.bincount(labels[pick], minlength=4)
    # equal shares, the small class gives all it has and the others fill in
    assert counts[2] == 2 and sorted(counts[[0, 1, 3]].tolist()) == [6, 6, 6]
    np.testing.assert_array_equal(pick, stratified_sample(labels, 20, seed=0))
    assert not np.array_equal(pick, stratified_sample(labels, 20, seed=1))
    # the first-N sample this replaces would be one class only
    assert np.unique(labels[:20]).size == 1
    np.testing.assert_array_equal(stratified_sample(labels, 500, seed=0), np.arange(100))


def test_compare_params_need_every_key():
    full = {"seed": 0, "n_images": 4, "n_concepts": 3, "sweep": [2, 3], "n_init": 1,
            "algorithms": ["kmeans"], "batch_size": 4, "workers": 1, "enabled": True}
    assert parse_section("compare", full).n_images == 4
    with pytest.raises(ValueError, match=r"missing keys \['seed'\]"):
        parse_section("compare", {k: v for k, v in full.items() if k != "seed"})
    with pytest.raises(ValueError, match=r"unknown keys \['extra'\]"):
        parse_section("compare", {**full, "extra": 1})
    with pytest.raises(ValueError, match="must include 'kmeans'"):
        parse_section("compare", {**full, "algorithms": ["gmm"]})
    with pytest.raises(ValueError, match="valid choices"):
        parse_section("compare", {**full, "algorithms": ["kmeans", "dbscan"]})
    with pytest.raises(ValueError, match="compare.sweep"):
        parse_section("compare", {**full, "sweep": [1]})


def test_kmeans_claims_are_paired_per_image_and_oriented():
    """k-means vs X per metric: the paired per-image difference, positive favouring k-means (DBI
    lower is better), images where either side is undefined left out, and a verdict."""
    from jaxconcepts.evaluation.clustering._compare import kmeans_claims

    rng = np.random.default_rng(0)
    recs = []
    for i in range(40):
        base = rng.normal(size=3)
        recs.append({"index": i, "method": "cgap", "algorithm": "kmeans",
                     "ss": base[0] + 0.5, "chi": base[1] + 10.0, "dbi": base[2] - 0.5})
        recs.append({"index": i, "method": "cgap", "algorithm": "gmm",
                     "ss": base[0], "chi": base[1] + 10.0 + rng.normal() * 0.01,
                     "dbi": None if i == 0 else base[2]})
    c = kmeans_claims(recs, seed=0)["cgap"]["gmm"]
    assert c["ss"]["verdict"] == "holds" and abs(c["ss"]["mean"] - 0.5) < 1e-9
    assert c["dbi"]["verdict"] == "holds" and abs(c["dbi"]["mean"] - 0.5) < 1e-9
    assert c["dbi"]["n"] == 39 and c["ss"]["n"] == 40  # image 0's GMM DBI is undefined
    assert c["chi"]["verdict"] == "tie"
    flipped = [dict(r, algorithm={"kmeans": "gmm", "gmm": "kmeans"}[r["algorithm"]])
               for r in recs]
    assert kmeans_claims(flipped, seed=0)["cgap"]["gmm"]["ss"]["verdict"] == "fails"
