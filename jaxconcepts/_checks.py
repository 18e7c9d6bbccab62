"""Shared argument checks and numerics: one home for what every layer validates or divides.

- :func:`safe_div` — ``num / den`` where ``den > 0``, else 0 (no epsilon that hides a dead
  denominator; the caller decides what a zero denominator means and reports it);
- :func:`check_choice`, :func:`check_positive_ints` — errors that name the
  argument, what was expected and what came.

Private kernels assume valid input; these checks run eagerly at the public boundary, once.
"""

from __future__ import annotations

from typing import Any, Iterable

import jax.numpy as jnp

__all__ = ["safe_div", "check_choice", "check_positive_ints"]


def safe_div(num, den):
    """``num / den`` where ``den > 0``, 0 elsewhere (gradient-safe: no NaN through ``where``)."""
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``, else ``ValueError`` listing the valid choices."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name}={value!r}; valid choices: {choices}")
    return value


def check_positive_ints(name: str, value: Any) -> list[int]:
    """A non-empty list of positive ints (a bare int is a list of one)."""
    vals = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(vals, (list, tuple)) or not vals
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in vals)):
        raise ValueError(f"{name}={value!r} should be a non-empty list of positive ints")
    return [int(v) for v in vals]
