"""Bootstrap intervals and verdicts (jaxconcepts.evaluation._intervals)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxconcepts.evaluation._intervals import (
    bootstrap_mean, paired_difference, verdict,
)
from jaxconcepts.report import interval


def test_constant_values_have_a_point_interval():
    d = bootstrap_mean(np.full(20, 0.25))
    assert d == {"mean": 0.25, "lo": 0.25, "hi": 0.25, "n": 20}


def test_interval_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = bootstrap_mean(rng.normal(1.0, 1.0, 30))
    big = bootstrap_mean(rng.normal(1.0, 1.0, 3000))
    assert small["lo"] < small["mean"] < small["hi"]
    assert big["hi"] - big["lo"] < (small["hi"] - small["lo"]) / 5
    assert big["lo"] < 1.0 < big["hi"]  # the true mean, at this n and seed


def test_nan_dropped_and_all_nan_undefined():
    d = bootstrap_mean(np.array([1.0, np.nan, 3.0]))
    assert d["n"] == 2 and d["mean"] == 2.0
    e = bootstrap_mean(np.array([np.nan, np.nan]))
    assert e == {"mean": None, "lo": None, "hi": None, "n": 0}
    assert interval(e) == "–"  # the report layer prints an undefined interval as missing


def test_paired_difference_verdicts():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 200)
    assert paired_difference(base + 0.2, base)["verdict"] == "holds"
    assert paired_difference(base - 0.2, base)["verdict"] == "fails"
    noise = rng.normal(0, 1, 200)
    tie = paired_difference(base + noise * 1e-3 - noise.mean() * 1e-3, base)
    assert tie["verdict"] == "tie" and tie["lo"] <= 0 <= tie["hi"]
    # pairing: a large shared per-image spread does not hide a small consistent gain
    shared = rng.normal(0, 10, 200)
    assert paired_difference(shared + 0.05, shared)["verdict"] == "holds"
    # pairs with a NaN on either side are dropped
    a, b = np.array([1.0, np.nan, 2.0]), np.array([0.0, 1.0, np.nan])
    assert paired_difference(a, b)["n"] == 1


def test_verdict_edges():
    assert verdict(None, 1.0) == "undefined"
    assert verdict(0.0, 1.0) == "tie" and verdict(-1.0, 0.0) == "tie"
    assert verdict(1e-9, 1.0) == "holds" and verdict(-1.0, -1e-9) == "fails"


def test_bad_input():
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        bootstrap_mean(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="level=1.5"):
        bootstrap_mean(np.zeros(3), level=1.5)
    with pytest.raises(ValueError, match="one shape"):
        paired_difference(np.zeros(3), np.zeros(4))


def test_seeded_and_reproducible():
    x = np.random.default_rng(2).normal(size=50)
    assert bootstrap_mean(x, seed=3) == bootstrap_mean(x, seed=3)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=40))
def test_interval_inside_the_data_range(vals):
    d = bootstrap_mean(np.array(vals), n_boot=200)
    assert min(vals) - 1e-9 <= d["lo"] <= d["mean"] + 1e-9
    assert d["mean"] - 1e-9 <= d["hi"] <= max(vals) + 1e-9
