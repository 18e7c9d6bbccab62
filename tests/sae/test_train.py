"""Training SAEs (jaxconcepts/sae/_train.py): the settings' and data checks of make_config and
fit_sae, the σ units, the per-epoch history. The streamed fit's tests are in test_streamed.py
(with the session's 2-device and 2-process runs, which launch once per test file)."""

import jax
import numpy as np
import pytest

from jaxconcepts.sae import fit_sae, make_config

FIT = dict(width=32, k=3, epochs=4, batch_size=128, learning_rate=3e-3, sparsity=0.03)


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="topk", k=0), r"k=0 should be in \[1, width=32\]"),
    (dict(method="batchtopk", k=33), r"k=33 should be in \[1, width=32\]"),
    (dict(method="sparse"), "valid choices"),
    (dict(method="topk", aux_k=40), r"aux_k=40 should be in \[0, width=32\]"),
    (dict(method="matryoshka", prefixes=(8, 4, 32)), "prefixes"),
    (dict(method="matryoshka", prefixes=(8, 16)), "end at width"),
    (dict(method="jumprelu", sparsity=-1.0), "sparsity"),
    (dict(method="jumprelu", bandwidth=0.0), "bandwidth"),
])
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_config(width=32, channels=16, **{"k": 3, **kwargs})


def test_bad_data_raise(small):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="NaN"):
        fit_sae(np.full((8, 4), np.nan, np.float32), width=4, k=1, key=key)
    with pytest.raises(ValueError, match="zero or non-finite variance"):
        fit_sae(np.ones((8, 4), np.float32), width=4, k=1, key=key)
    with pytest.raises(ValueError, match="2-D"):
        fit_sae(np.ones(8, np.float32), width=4, k=1, key=key)
    with pytest.raises(ValueError, match=r"k=5 should be in \[1, width=4\]"):
        fit_sae(small.A, width=4, k=5, key=key)


def test_nan_loss_raises_naming_the_setting(small):
    with pytest.raises(FloatingPointError,
                       match=r"topk SAE diverged.*width=32, k=3.*learning_rate=1e\+30"):
        fit_sae(small.A, method="topk", key=jax.random.key(0),
                **{**FIT, "learning_rate": 1e30})


def test_fit_is_in_sigma_units_so_scaling_the_rows_scales_only_the_biases(small):
    """Training runs on A / σ: the rows times 10 give the same atoms and 10x the biases."""
    fit = dict(FIT, epochs=2)
    seen = []
    one = fit_sae(small.A, method="topk", key=jax.random.key(1), callback=lambda e, loss:
                  seen.append((e, loss)), **fit)
    ten = fit_sae(10 * small.A, method="topk", key=jax.random.key(1), **fit)
    assert [e for e, _ in seen] == [0, 1]
    np.testing.assert_allclose(one.loss_history, [loss for _, loss in seen])
    np.testing.assert_allclose(np.asarray(ten.W_dec), np.asarray(one.W_dec), atol=1e-4)
    np.testing.assert_allclose(np.asarray(ten.b_dec), 10 * np.asarray(one.b_dec), rtol=1e-3,
                               atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(one.W_dec), axis=1), 1.0, rtol=1e-5)


def test_make_config_defaults():
    cfg = make_config("matryoshka", width=64, k=4, channels=10)
    assert cfg.prefixes == (8, 16, 32, 64) and cfg.aux_k == 5 and cfg.var == 10.0
    assert make_config("jumprelu", width=8, k=3, channels=4).k == 0
    assert make_config("archetypal", width=8, k=2, channels=4).candidates == 32
    with pytest.raises(ValueError, match="archetypal SAE: its atoms come from the candidates"):
        fit_sae(np.random.default_rng(0).normal(size=(16, 4)), method="archetypal", width=4, k=1,
                key=jax.random.key(0), freeze_decoder=True)


def test_batchtopk_inference_threshold_is_the_debiased_moving_average(small):
    """θ = Σ_t m^(T−t) thr_t / Σ_t m^(T−t), thr_t the step's smallest kept activation."""
    import jax.numpy as jnp

    from jaxconcepts.sae._models import _chosen_train, preactivations
    from jaxconcepts.sae._train import THRESHOLD_MOMENTUM as m
    from jaxconcepts.sae._train import _Opt, _scale, init_state, train_step

    cfg = make_config("batchtopk", width=32, k=3, channels=16)
    sigma, sample = _scale(small.A, "batchtopk")
    opt = _Opt(3e-3, 1.0 / sigma)
    state = init_state(jax.random.key(0), cfg, opt, sample)
    mask = jnp.ones(128, bool)
    step = jax.jit(lambda s, A: train_step(s, A, mask, cfg, opt))
    batch_thr = jax.jit(lambda p, A: _chosen_train(p, cfg, A, mask, preactivations(p, A))[3])
    want_sum = want_n = 0.0
    for t in range(4):
        A = jnp.asarray(small.A[t * 128:(t + 1) * 128])
        thr = float(batch_thr(state.params, A * opt.inv_sigma))
        want_sum, want_n = m * want_sum + thr, m * want_n + 1.0
        state, _ = step(state, A)
    np.testing.assert_allclose(float(state.thr_sum), want_sum, rtol=1e-5)
    np.testing.assert_allclose(float(state.thr_n), want_n, rtol=1e-6)
    assert 0 < m < 1
