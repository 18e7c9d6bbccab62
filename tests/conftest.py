"""Shared test configuration: hypothesis profiles and deterministic PRNG keys.

Profiles: ``ci`` (default; few examples, no deadline — JAX compiles on first call) and ``dev``
(more examples). Select with ``HYPOTHESIS_PROFILE=dev pytest``.
"""

import os

import jax
import pytest
from hypothesis import HealthCheck, settings

jax.config.update("jax_enable_x64", False)

settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def key():
    return jax.random.key(0)
