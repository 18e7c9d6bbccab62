"""paired_baseline: hand cases where the unpaired and the paired comparison disagree; size_auroc,
the size-only reference, by hand."""

import numpy as np
import pytest

from jaxconcepts.evaluation.clustering._baseline import paired_baseline, size_auroc

nan = np.nan


def test_paired_vs_unpaired():
    # the method is defined everywhere; the baseline only on the easy images 2 and 3
    method = np.array([0.2, 0.4, 0.9, 0.9])
    b1 = np.array([nan, nan, 0.8, 0.8])
    b2 = np.array([nan, nan, 0.7, nan])
    r = paired_baseline(method, [b1, b2])
    assert r["method"] == pytest.approx(0.6) and r["n_method"] == 4
    assert r["baseline_mean"] == pytest.approx(0.75) and r["baseline_std"] == pytest.approx(0.05)
    assert r["n_baseline"] == 1.5 and r["n_seeds"] == 2
    # unpaired: 0.6 < 0.75; paired on the same images the method wins by 0.1 / 0.2
    assert r["paired_method"] == pytest.approx(0.9) and r["paired_baseline"] == pytest.approx(0.75)
    assert r["paired_diff"] == pytest.approx(0.15) and r["paired_diff_std"] == pytest.approx(0.05)
    assert r["paired_n"] == 1.5


def test_nothing_defined_and_errors():
    r = paired_baseline(np.array([nan, 1.0]), [np.array([1.0, nan])])
    assert r["paired_diff"] is None and r["paired_n"] == 0 and r["baseline_mean"] == 1.0
    with pytest.raises(ValueError, match="at least one seed"):
        paired_baseline(np.zeros(2), [])
    with pytest.raises(ValueError, match=r"baselines\[0\] has shape"):
        paired_baseline(np.zeros(2), [np.zeros(3)])


def test_size_auroc_by_hand():
    sizes = np.array([[5, 2, 2, 9], [3, 3, 1, 1], [4, 4, 4, 4]])
    category = np.array([[0, 1, 2, -1],  # defining 5 vs others 2, 2 (9 is invalid)
                         [0, 0, 2, 1],  # 3, 3 vs 1, 1
                         [1, 2, 2, -1]])  # no defining concept: undefined
    out = size_auroc(sizes, category)
    np.testing.assert_allclose(out[:2], [1.0, 1.0])
    assert np.isnan(out[2])
    # ties count 1/2; smaller defining concepts give AUROC < 0.5
    np.testing.assert_allclose(size_auroc(np.array([[2, 2, 6]]), np.array([[0, 1, 2]])), [0.25])
