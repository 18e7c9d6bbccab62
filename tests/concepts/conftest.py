"""Planted activations shared by the CGAP / CPHA tests and tests/stages/test_concepts.py."""

import numpy as np
import pytest

from jaxconcepts.concepts import cpha

C, H, W = 48, 4, 4
KW = dict(n_concepts=3, n_sub_concepts=2)


def kw(method):
    """KW, and CPHA's vmap group (CGAP has none)."""
    return KW | {"group": 2} if method is cpha else KW


def planted(n, seed=0):
    """Images whose live channels copy one of 3 spatial patterns (+ noise); ~1/4 channels dead."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, C, H, W), np.float32)
    for b in range(n):
        pats = rng.random((3, H * W)) ** 3 * 4
        pats[np.arange(3), rng.choice(H * W, 3, replace=False)] += 6
        which = rng.integers(0, 3, C)
        a = pats[which] * rng.uniform(0.5, 1.5, (C, 1)) + 0.05 * rng.random((C, H * W))
        a[rng.random(C) < 0.25] = 0
        out[b] = a.reshape(C, H, W)
    return out


@pytest.fixture(scope="module")
def acts():
    return planted(4)
