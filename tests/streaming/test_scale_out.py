"""One code path: 1 vs 2 forced CPU devices, 1 vs 2 processes give the same dictionary."""

import numpy as np
import pytest

from .conftest import run_worker

# C2MF's default schedule runs 5 rounds of 10 Adam steps on each pass's sums; near the gates'
# optimum Adam's normalised steps turn the last-digit differences of another summation order into
# steps of up to the learning rate (0.05), so the dictionaries agree to ~1e-3, not 1e-4, while
# the objectives still agree to 1e-5 (with one round per pass: 3e-7 on W, tried)
W_TOL = {"c2mf": 2e-3, "c2mf_online": 2e-3, "nmf": 2e-4, "nmf_online": 2e-4}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["c2mf", "c2mf_online", "nmf", "nmf_online"])
def test_two_devices_equal_one(request, tmp_path, method, single_run):
    store = request.getfixturevalue("store" if method.startswith("c2mf") else "nn_store")
    one = single_run(method)
    two = run_worker(store, tmp_path / "two.npz", method, devices=2)
    assert int(one["devices"]) == 1 and int(two["devices"]) == 2
    np.testing.assert_allclose(two["W"], one["W"], rtol=W_TOL[method], atol=W_TOL[method])
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["c2mf", "c2mf_online"])
def test_two_processes_equal_one(store, tmp_path, single_run, method):
    """An online first pass updates once per group of shards, and a group holds the same rows
    whichever process reads which of its shards."""
    one = single_run(method)
    two = run_worker(store, tmp_path / "two.npz", method, processes=2)
    assert int(two["devices"]) == 2
    np.testing.assert_allclose(two["W"], one["W"], rtol=W_TOL[method], atol=W_TOL[method])
    np.testing.assert_allclose(two["logits"], one["logits"], rtol=2e-2, atol=2e-2)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4)


@pytest.mark.slow
def test_killed_fit_rerun_is_identical(store, tmp_path, single_run, launch):
    import signal

    first = single_run("c2mf")  # an uninterrupted run
    # SIGKILL after 2 of 50 passes, from inside the fit (deterministic whatever the machine's speed)
    rc = launch("tests.streaming._worker", store, tmp_path / "killed.npz", "c2mf", 50, 2,
                timeout=600, check=False)
    assert rc == [-signal.SIGKILL]
    assert not (tmp_path / "killed.npz").exists()
    again = run_worker(store, tmp_path / "b.npz", "c2mf")  # a fresh run after the kill
    for key in ("W", "logits", "loss"):
        np.testing.assert_array_equal(again[key], first[key])


@pytest.mark.slow
def test_online_nmf_two_processes_equal_one(nn_store, tmp_path, single_run):
    """The online pass updates W once per group of shards, and a group holds the same rows
    whichever process reads which of its shards."""
    one = single_run("nmf_online")
    two = run_worker(nn_store, tmp_path / "two.npz", "nmf_online", processes=2)
    assert int(two["devices"]) == 2
    np.testing.assert_allclose(two["W"], one["W"], rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4)
