"""The C2MF paper's "common bias" proof (§2.2, Eq. 2–9) as executable properties.

Each claim is tested AS STATED. Where it fails, the counterexample is kept as an explicit example
test (named ``test_COUNTEREXAMPLE_...``, asserting the claim really is violated) and the corrected
property that does hold is tested next to it. Write-up: reports/c2mf_proof.md.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import wilcoxon

from jaxconcepts.concepts._c2mf import fit_c2mf
from jaxconcepts.kernels._nmf import nmf

from tests.planted import C, FIT, K, N, Y, mean_abs_cos

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)
nonneg = st.floats(0, 10, allow_nan=False, allow_infinity=False, width=64)


def mats(n, m, elements=finite):
    return hnp.arrays(np.float64, (n, m), elements=elements)


@st.composite
def factor_pair(draw, elements=finite):
    n, k, c = draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(1, 6))
    return draw(mats(n, k, elements)), draw(mats(k, c, elements))


def cos(x, y):
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


# ---------------------------------------------------------------- Eq. 3 and Eq. 4


@given(factor_pair())
def test_eq3_sum_identity_holds_for_any_factors(UW):
    """⟨UW, 11ᵀ⟩ = Σ_r (1ᵀu_r)(1ᵀw_r): true for any signs (bilinearity, not non-negativity)."""
    U, W = UW
    lhs = np.sum(U @ W)
    rhs = sum(U[:, r].sum() * W[r].sum() for r in range(U.shape[1]))
    assert np.isclose(lhs, rhs, rtol=1e-9, atol=1e-9)


@given(factor_pair(nonneg), st.floats(0.01, 5))
def test_eq4_exact_factorisation_of_shifted_data_adds_delta_c_n(UW, delta):
    """If UW = A + δ11ᵀ exactly, Σ_r (1ᵀu_r)(1ᵀw_r) = 1ᵀA1 + δ·c·n (Eq. 4 with '≈' made '=')."""
    U, W = UW
    n, c = U.shape[0], W.shape[1]
    A = U @ W - delta
    total = sum(U[:, r].sum() * W[r].sum() for r in range(U.shape[1]))
    assert np.isclose(total, A.sum() + delta * c * n, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- Eq. 5 and Eq. 6


def f(U, W, A, delta):
    return jnp.sum((A + delta - U @ W) ** 2)


def paper_grad_U(U, W, A, delta):  # Eq. 5 as printed: (UW − A')W
    return (U @ W - (A + delta)) @ W


def paper_grad_W(U, W, A, delta):  # Eq. 6 as printed: (UW − A')ᵀU
    return (U @ W - (A + delta)).T @ U


def corrected_grad_U(U, W, A, delta):
    n = U.shape[0]
    return 2 * (U @ W - A) @ W.T - 2 * delta * np.outer(np.ones(n), W.sum(1))


def corrected_grad_W(U, W, A, delta):
    c = W.shape[1]
    return 2 * U.T @ (U @ W - A) - 2 * delta * np.outer(U.sum(0), np.ones(c))


def test_COUNTEREXAMPLE_eq5_eq6_as_printed_do_not_even_conform():
    """Eq. 5 multiplies (n×c)(k×c): undefined unless k = c; Eq. 6 gives a c×k matrix for a k×c W."""
    U, W, A = np.ones((3, 2)), np.ones((2, 4)), np.zeros((3, 4))
    with pytest.raises(ValueError):
        paper_grad_U(U, W, A, 1.0)
    assert paper_grad_W(U, W, A, 1.0).shape == (4, 2) != W.shape


def test_COUNTEREXAMPLE_eq5_eq6_as_printed_are_wrong_even_when_shapes_conform():
    """With k = c the printed formulas run but disagree with jax.grad (missing 2 and transposes)."""
    U = np.array([[1.0, 2.0], [0.5, 0.0], [1.0, 1.0]])
    W = np.array([[1.0, 0.0], [3.0, 1.0]])
    A = np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])
    gU, gW = jax.grad(f, argnums=(0, 1))(U, W, A, 0.5)
    assert not np.allclose(paper_grad_U(U, W, A, 0.5), gU, atol=1e-3)
    assert not np.allclose(paper_grad_W(U, W, A, 0.5), gW, atol=1e-3)
    # what the printed Eq. 6 actually is: the transpose of half the gradient
    np.testing.assert_allclose(paper_grad_W(U, W, A, 0.5).T, 0.5 * np.asarray(gW), rtol=1e-5)


@pytest.mark.slow
@given(factor_pair(), st.floats(0, 5))
def test_eq5_eq6_corrected_gradients_match_jax_grad(UW, delta):
    """∇_U f = 2(UW − A)Wᵀ − 2δ 1_n (W1_c)ᵀ,  ∇_W f = 2Uᵀ(UW − A) − 2δ (Uᵀ1_n) 1_cᵀ."""
    U, W = UW
    A = np.random.default_rng(0).normal(size=(U.shape[0], W.shape[1]))
    gU, gW = jax.grad(f, argnums=(0, 1))(*(jnp.asarray(x, jnp.float32) for x in (U, W, A)), delta)
    eU, eW = corrected_grad_U(U, W, A, delta), corrected_grad_W(U, W, A, delta)
    scale = 1e-4 * (1 + np.abs(U).max() + np.abs(W).max() + delta) ** 3  # float32 round-off
    np.testing.assert_allclose(eU, gU, rtol=1e-4, atol=scale)
    np.testing.assert_allclose(eW, gW, rtol=1e-4, atol=scale)


@given(factor_pair(nonneg), st.floats(0.01, 5))
def test_bias_terms_are_nonpositive_when_factors_are_nonnegative(UW, delta):
    """The shift's gradient terms −2δ1(W1)ᵀ and −2δ(Uᵀ1)1ᵀ are ≤ 0 under NMF's constraints, so a
    gradient step raises every entry of U and W: the "consistent bias" of §2.2 holds (corrected)."""
    U, W = UW
    zero = np.zeros((U.shape[0], W.shape[1]))
    bias_U = corrected_grad_U(U, W, zero, delta) - corrected_grad_U(U, W, zero, 0.0)
    bias_W = corrected_grad_W(U, W, zero, delta) - corrected_grad_W(U, W, zero, 0.0)
    assert np.all(bias_U <= 0) and np.all(bias_W <= 0)


def test_bias_term_has_no_sign_for_a_signed_dictionary():
    """With a signed W (C2MF) the shift's term in ∇_U has both signs: no uniform push."""
    W = np.array([[1.0, 1.0, 1.0], [-1.0, -2.0, 0.5]])
    bias_U = -2 * 1.0 * np.outer(np.ones(2), W.sum(1))
    assert bias_U.min() < 0 < bias_U.max()


# ---------------------------------------------------------------- Eq. 8: φ(b)


def phi(wp, wq, b):
    return cos(wp + b, wq + b)


def bias_angle(w, t):
    """Angle between w + t1 and 1, valid when mean(w) + t > 0."""
    c = w.size
    m = w.mean()
    return np.arctan(np.linalg.norm(w - m) / ((m + t) * np.sqrt(c)))


def phi_lower_bound(wp, wq, b):
    return np.cos(bias_angle(wp, b) + bias_angle(wq, b))


def test_COUNTEREXAMPLE_phi_is_not_increasing_in_b():
    """Claim: 'when b > 0 increases, φ(b) increases'. False even for non-negative vectors."""
    wp, wq = np.array([1.0, 0.0]), np.array([2.0, 0.0])
    assert phi(wp, wq, 0.5) > phi(wp, wq, 1.0)  # 0.9923 > 0.9899


@pytest.mark.slow
def test_hypothesis_finds_a_phi_monotonicity_counterexample():
    vec = hnp.arrays(np.float64, 3, elements=nonneg)
    wp, wq, b1, b2 = find(
        st.tuples(vec, vec, st.floats(0.01, 5), st.floats(0.01, 5)),
        lambda t: t[2] < t[3]
        and np.linalg.norm(t[0] + t[2]) > 0
        and np.linalg.norm(t[1] + t[2]) > 0
        and phi(t[0], t[1], t[2]) > phi(t[0], t[1], t[3]) + 1e-6,
        settings=settings(max_examples=2000, database=None),
    )
    assert b1 < b2 and phi(wp, wq, b1) > phi(wp, wq, b2)


vec_pair = st.integers(1, 6).flatmap(
    lambda c: st.tuples(hnp.arrays(np.float64, c, elements=finite),
                        hnp.arrays(np.float64, c, elements=finite)))


@given(vec_pair, st.floats(0, 50), st.floats(0, 50))
def test_phi_corrected_lower_bound_holds_and_increases(pair, t1, t2):
    """Corrected: for b > −min(mean w_p, mean w_q), φ(b) ≥ cos(θ_p(b) + θ_q(b)) where
    tan θ(b) = ‖w − w̄1‖ / ((w̄ + b)√c); the bound is non-decreasing in b and tends to 1."""
    wp, wq = pair
    b0 = max(-wp.mean(), -wq.mean()) + 1e-3
    b1, b2 = b0 + min(t1, t2), b0 + max(t1, t2)
    for b in (b1, b2):
        assert phi(wp, wq, b) >= phi_lower_bound(wp, wq, b) - 1e-9
    assert phi_lower_bound(wp, wq, b2) >= phi_lower_bound(wp, wq, b1) - 1e-12
    assert phi(wp, wq, 1e6 + b0) > 1 - 1e-6  # the limit claim (φ → 1) holds


# ---------------------------------------------------------------- Eq. 9: ψ(a, b)


def test_COUNTEREXAMPLE_psi_is_undefined_across_U_and_W():
    """u_r + a1 ∈ R^{nwh} and w_s + b1 ∈ R^c: their cosine is undefined unless nwh = c."""
    u, w = np.ones(5), np.ones(3)
    with pytest.raises(ValueError):
        cos(u + 1.0, w + 1.0)


def test_COUNTEREXAMPLE_psi_is_not_increasing_in_a_even_when_defined():
    u, w = np.array([1.0, 0.0]), np.array([1.0, 0.0])
    assert cos(u, w) == 1.0 > cos(u + 1.0, w)
    u2 = np.array([1.0, 0.0])
    w2 = np.array([2.0, 0.0])
    assert cos(u2 + 0.5, w2 + 0.5) > cos(u2 + 1.0, w2 + 1.0)  # nor along a = b


@given(vec_pair, st.floats(0, 50), st.floats(0, 50), st.floats(0, 50))
def test_psi_corrected_bound_monotone_in_each_shift(pair, a, b, extra):
    """Corrected (equal dimensions): ψ(a, b) ≥ cos(θ_u(a) + θ_w(b)), a bound non-decreasing in a
    and in b separately, → 1 only when both a, b → ∞ (a alone tends to cos(1, w + b1))."""
    u, w = pair
    a0, b0 = -u.mean() + 1e-3 + a, -w.mean() + 1e-3 + b

    def bound(s, t):
        return np.cos(bias_angle(u, s) + bias_angle(w, t))

    assert cos(u + a0, w + b0) >= bound(a0, b0) - 1e-9
    assert bound(a0 + extra, b0) >= bound(a0, b0) - 1e-12
    assert bound(a0, b0 + extra) >= bound(a0, b0) - 1e-12


# ---------------------------------------------------------------- the empirical claims

SEEDS = range(6)


def _nonneg_planted(seed):
    rng = np.random.default_rng(seed)
    W = np.abs(rng.normal(size=(K, C)))
    W[rng.uniform(size=W.shape) < 0.6] = 0.0
    return (np.abs(rng.normal(size=(N, K))) @ W).astype(np.float32)


@pytest.fixture(scope="module")
def shift_study():
    rows = []
    for seed in SEEDS:
        A = _nonneg_planted(seed)
        delta = float(A.mean())
        y = np.zeros(N, np.int32)
        key = jax.random.key(seed)
        nmf0 = mean_abs_cos(nmf(A, K, key=key).W)
        nmf1 = mean_abs_cos(nmf(A + delta, K, key=key).W)
        c0 = mean_abs_cos(fit_c2mf(A, y, K, key=key, alpha=0.0, n_classes=Y, **FIT).W)
        c1 = mean_abs_cos(fit_c2mf(A + delta, y, K, key=key, alpha=0.0, n_classes=Y, **FIT).W)
        rows.append((nmf0, nmf1, c0, c1))
    return np.asarray(rows)


@pytest.mark.slow
def test_nmf_on_shifted_data_learns_more_aligned_concepts(shift_study):
    """Claim (holds): NMF on A + δ has higher mean |cos| between concepts than on A (paired,
    one-sided Wilcoxon over seeds, p < 0.05)."""
    before, after = shift_study[:, 0], shift_study[:, 1]
    assert wilcoxon(after, before, alternative="greater").pvalue < 0.05
    assert np.median(after - before) > 0.1


@pytest.mark.slow
def test_COUNTEREXAMPLE_c2mf_concepts_also_align_on_shifted_data(shift_study):
    """Claim: C2MF's signed W does not become more aligned on A + δ. Under test it does (its codes
    are non-negative, so every atom absorbs part of the offset): the increase is significant."""
    before, after = shift_study[:, 2], shift_study[:, 3]
    assert wilcoxon(after, before, alternative="greater").pvalue < 0.05


@pytest.mark.slow
def test_c2mf_on_signed_data_is_less_aligned_than_nmf_on_its_shifted_copy():
    """Corrected claim (holds): on signed activations, C2MF needs no shift; its concepts are far
    less aligned than NMF's on the shifted copy A − min(A) + δ that NMF requires."""
    diffs = []
    for seed in SEEDS:
        rng = np.random.default_rng(100 + seed)
        W = rng.normal(size=(K, C))
        U = np.abs(rng.normal(size=(N, K))) * (rng.uniform(size=(N, K)) < 0.5)
        A = (U @ W).astype(np.float32)
        key = jax.random.key(seed)
        shifted = A - A.min() + 0.1 * A.std()
        nmf_cos = mean_abs_cos(nmf(shifted, K, key=key).W)
        c2mf_cos = mean_abs_cos(fit_c2mf(A, np.zeros(N, np.int32), K, key=key, alpha=0.0,
                                         n_classes=Y, **FIT).W)
        diffs.append(nmf_cos - c2mf_cos)
    assert wilcoxon(diffs, alternative="greater").pvalue < 0.05
    assert np.median(diffs) > 0.2
