"""Shared argument checks and numerics (jaxconcepts/_checks.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts._checks import check_choice, check_positive_ints, safe_div


def test_safe_div_divides_where_positive_and_is_zero_elsewhere():
    num = jnp.array([1.0, 2.0, 3.0, 4.0])
    den = jnp.array([2.0, 0.0, -1.0, 8.0])
    np.testing.assert_allclose(np.asarray(safe_div(num, den)), [0.5, 0.0, 0.0, 0.5])


def test_safe_div_gradient_is_finite_at_a_zero_denominator():
    g = jax.grad(lambda d: safe_div(3.0, d))(0.0)
    assert float(g) == 0.0
    np.testing.assert_allclose(float(jax.grad(lambda d: safe_div(3.0, d))(2.0)), -0.75)


def test_check_choice():
    assert check_choice("mode", "b", ("a", "b")) == "b"
    with pytest.raises(ValueError, match=r"mode='c'; valid choices: \['a', 'b'\]"):
        check_choice("mode", "c", iter(["a", "b"]))


def test_check_positive_ints():
    assert check_positive_ints("k", 3) == [3]
    assert check_positive_ints("k", (1, 2)) == [1, 2]
    for bad in (0, True, [], [1, 0], [1, 2.0], "3", None, [False]):
        with pytest.raises(ValueError, match="k=.* should be a non-empty list of positive ints"):
            check_positive_ints("k", bad)
