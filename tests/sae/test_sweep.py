"""Matched explained variance: the searches on known curves, and SAEs on the recovery problem."""

import math

import numpy as np
import pytest

from jaxconcepts.sae import match_r2, sae_fitter, synthetic_features
from jaxconcepts.sae._sweep import bisect_increasing_int, bisect_log_decreasing


def test_smallest_k_reaching_the_target():
    def curve(k):  # 0.5, 0.667, 0.75, ...; >= 0.9 from k = 9
        return 1 - 1 / (k + 1)

    k, seen = bisect_increasing_int(curve, 0.9, 1, 64)
    assert k == 9 and curve(8) < 0.9
    assert len(seen) <= 8 and max(seen) == 16  # doubling stops at the first k reaching 0.9
    assert bisect_increasing_int(curve, 0.4, 1, 64)[0] == 1
    assert bisect_increasing_int(curve, 0.99, 1, 20) == (None, {1: 0.5, 2: curve(2), 4: curve(4),
                                                                8: curve(8), 16: curve(16),
                                                                20: curve(20)})
    # a curve that falls again past the answer (archetypal / SemiNMF at large k) is fine
    def bumpy(k):
        return 0.95 if 5 <= k <= 8 else (0.1 * k if k < 5 else 0.3)

    assert bisect_increasing_int(bumpy, 0.9, 1, 64)[0] == 5
    with pytest.raises(ValueError):
        bisect_increasing_int(curve, 0.9, 0, 4)


def test_largest_penalty_reaching_the_target():
    def curve(lam):
        return 1 - lam

    lam, seen = bisect_log_decreasing(curve, 0.7, 1e-3, 1.0, iters=12)
    assert curve(lam) >= 0.7 and lam == pytest.approx(0.3, rel=0.01)
    assert len(seen) == 14
    assert bisect_log_decreasing(curve, 0.9999, 1e-3, 1.0)[0] is None
    assert bisect_log_decreasing(curve, 0.5, 1e-3, 0.4)[0] == 0.4
    assert math.isfinite(lam)


class _Shrunk:
    """A fake fit whose reconstruction is ``(1 - shrink) · A``: R² = 1 - shrink²."""

    def __init__(self, shrink, c):
        self.shrink, self.W = shrink, np.eye(c)

    def transform(self, A):
        return A

    def reconstruct(self, U):
        return (1 - self.shrink) * U


def test_match_r2_flags_the_sparsest_end():
    """Reached at the knob's sparsest end (k = lo, or λ = hi) is flagged: R² may lie well above
    the target there; inside the range it is not."""
    A = np.random.default_rng(0).standard_normal((200, 4))
    k_fit = lambda k: _Shrunk(1 / (k + 1), 4)  # noqa: E731  R² 0.75 at k = 1, 0.89 at 2, ...
    lam_fit = lambda lam: _Shrunk(min(lam, 1.0), 4)  # noqa: E731  R² 1 - λ²
    (lo_k,) = match_r2(k_fit, A, np.eye(4), knob="k", lo=1, hi=8, targets=(0.7,))
    (in_k,) = match_r2(k_fit, A, np.eye(4), knob="k", lo=1, hi=8, targets=(0.85,))
    (hi_l,) = match_r2(lam_fit, A, np.eye(4), knob="sparsity", lo=1e-3, hi=0.1, targets=(0.7,))
    (in_l,) = match_r2(lam_fit, A, np.eye(4), knob="sparsity", lo=1e-3, hi=1.0, targets=(0.7,))
    assert (lo_k["value"], lo_k["at_sparsest_end"]) == (1, True) and lo_k["r2"] > 0.74
    assert (in_k["value"], in_k["at_sparsest_end"]) == (2, False)
    assert (hi_l["value"], hi_l["at_sparsest_end"]) == (0.1, True) and hi_l["r2"] > 0.98
    assert in_l["reached"] and not in_l["at_sparsest_end"] and in_l["value"] < 1.0


@pytest.mark.slow
def test_saes_at_matched_r2():
    """Measured (dim 32, 64 features, 20 k rows; width 64, 10 epochs of 256 rows, seed 0):
    TopK reaches R² 0.7 at k = 3 (R² 0.777, MCC 0.836, F1 0.72) and 0.9 at k = 6 (0.902, MCC
    0.836, F1 0.61); JumpReLU reaches 0.9 at λ = 0.0203 (R² 0.905, MCC 0.64, F1 0.06; before its
    encoder was scaled at init: λ = 0.0173, R² 0.900, MCC 0.59, F1 0.02)."""
    d = synthetic_features(20000, dim=32, n_features=64, seed=0, mean_active=4)
    fit = {"width": 64, "epochs": 10, "batch_size": 256, "learning_rate": 3e-3}
    topk = match_r2(sae_fitter(d.A, "topk", **fit), d.A, d.W, knob="k", lo=1, hi=32)
    assert [r["value"] for r in topk] == [3, 6]
    for r in topk:
        assert r["reached"] and r["target"] <= r["r2"] < r["target"] + 0.09
        assert r["mcc"] > 0.8 and r["f1"] > 0.55 and r["dead"] <= 2
    jump = match_r2(sae_fitter(d.A, "jumprelu", **fit), d.A, d.W, knob="sparsity",
                    lo=1e-4, hi=3.0, targets=(0.9,))
    (r,) = jump
    assert r["reached"] and 0.9 <= r["r2"] < 0.92 and 0.01 < r["value"] < 0.03, r
    assert 0.5 < r["mcc"] < r["r2"] and len(r["fits"]) == 8
