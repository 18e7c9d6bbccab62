"""The numbers the explorer shows: maps as the paper draws them, suppression in closed form."""

import base64
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jaxconcepts.explorer import (
    b64, code_maps_u8, concept_logits, data_script, grid_maps, nearest_concepts, softmax, top_k,
)
from jaxconcepts.viz import concept_maps, sub_concept_maps


def _up(u8, ranges, size):
    """The page's decoding and upsampling (bilinear, half-pixel centres, clamped edges)."""
    lo, hi = ranges[..., 0, None, None], ranges[..., 1, None, None]
    x = jnp.asarray(lo + (hi - lo) * u8.astype(np.float32) / 255.0)
    return np.asarray(jax.image.resize(x, x.shape[:-2] + size, "bilinear"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_maps_upsampled_match_the_papers_maps(seed):
    rng = np.random.default_rng(seed)
    A = np.maximum(rng.normal(size=(3, 10, 5, 6)), 0).astype(np.float32)
    lab = rng.integers(-1, 4, size=(3, 10)).astype(np.int32)
    sub = np.where(lab >= 0, rng.integers(0, 2, size=(3, 10)), -1).astype(np.int32)
    g = grid_maps(A, lab, sub, n_concepts=4, n_sub=2, size=(40, 48))
    assert g.maps.dtype == np.uint8 and g.maps.shape == (3, 4, 5, 6)
    assert g.sub_maps.shape == (3, 4, 2, 5, 6) and g.ranges.shape == (3, 4, 2)
    ref = np.asarray(concept_maps(A, lab, n_concepts=4, size=(40, 48)).maps)
    ref_sub = np.clip(np.asarray(sub_concept_maps(A, lab, sub, n_concepts=4, n_sub=2,
                                                  size=(40, 48)).maps), 0, 1)
    # the page: decode each map over its range, upsample, clip; only the uint8 steps remain
    page = np.clip(_up(g.maps, g.ranges, (40, 48)), 0, 1)
    page_sub = np.clip(_up(g.sub_maps, g.sub_ranges, (40, 48)), 0, 1)
    step = (g.ranges[..., 1] - g.ranges[..., 0]).max() / 255
    assert np.abs(page - ref).max() <= step / 2 + 1e-5
    step_sub = (g.sub_ranges[..., 1] - g.sub_ranges[..., 0]).max() / 255
    assert np.abs(page_sub - ref_sub).max() <= step_sub / 2 + 1e-5
    # normalising on the grid instead would miss the paper's maps by far more at sharp peaks
    on_grid = grid_maps(A, lab, n_concepts=4)
    assert np.abs(np.clip(_up(on_grid.maps, on_grid.ranges, (40, 48)), 0, 1) - ref).max() > 0.02


def test_empty_concept_and_flat_map_are_zero():
    A = np.ones((1, 3, 2, 2), np.float32)
    g = grid_maps(A, np.array([[0, 0, -1]]), n_concepts=3, size=(5, 5))
    assert (g.maps == 0).all()  # concept 0 flat, 1 and 2 empty: nothing to show


def test_grid_maps_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="should agree"):
        grid_maps(np.zeros((2, 3, 4, 4)), np.zeros((2, 4), int), n_concepts=2)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5))
def test_suppression_closed_form_is_exact(seed, j):
    """Removing u_j w_j from every position and re-running GAP + linear gives the stored logits
    minus ū_j (w_j Hᵀ): the formula the page uses."""
    rng = np.random.default_rng(seed)
    k, c, p, n_out = 6, 9, 16, 7
    U = rng.uniform(0, 2, size=(p, k))
    Wd = rng.normal(size=(k, c))
    A = U @ Wd + 0.1 * rng.normal(size=(p, c))
    Hw, b = rng.normal(size=(n_out, c)), rng.normal(size=n_out)
    z = A.mean(0) @ Hw.T + b
    A_removed = A - np.outer(U[:, j], Wd[j])
    want = A_removed.mean(0) @ Hw.T + b
    got = z - U[:, j].mean() * concept_logits(Wd, Hw)[j]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_code_maps_scale_and_sign():
    codes = np.array([[[[0.0, 1.0], [2.0, -4.0]]]], np.float32)  # (1, 1, 2, 2)
    assert code_maps_u8(codes, np.array([4.0]), signed=True).ravel().tolist() == [0, 64, 128, 255]
    assert code_maps_u8(codes, np.array([2.0]), signed=False).ravel().tolist() == [0, 128, 255, 0]


def test_nearest_concepts_finds_a_permutation_with_signs():
    rng = np.random.default_rng(0)
    Wa = rng.normal(size=(5, 8))
    perm = np.array([3, 0, 4, 1, 2])
    Wb = -2.0 * Wa[perm]
    out = nearest_concepts(Wa, Wb)
    for i, e in enumerate(out):
        assert e["match"][0] == int(np.flatnonzero(perm == i)[0])
        assert e["match"][1] == pytest.approx(1.0)
        assert e["nearest"][0] == e["match"]
    fewer = nearest_concepts(Wa, Wb[:2])
    assert sum(e["match"] is None for e in fewer) == 3


def test_top_k_and_softmax():
    p = softmax(np.array([1.0, 3.0, 3.0, 0.0]))
    assert p.sum() == pytest.approx(1.0)
    assert [o for o, _ in top_k(p, 3)] == [1, 2, 0]


def test_b64_round_trip_and_data_script():
    x = np.arange(6, dtype=np.float32) / 3
    assert np.array_equal(np.frombuffer(base64.b64decode(b64(x)), "<f4"), x)
    text = data_script("meta", {"name": "café #1?", "x": [1.5]})
    assert text.startswith('JC_DATA("meta",') and text.isascii()
    assert json.loads(text[len('JC_DATA("meta",'):-3]) == {"name": "café #1?", "x": [1.5]}
    with pytest.raises(ValueError):
        data_script("meta", {"x": float("nan")})


def test_the_page_colour_map_reads_in_greyscale():
    """The overlay's colour map (viridis, embedded in explorer.js): its luma rises with the value,
    so a greyscale print or a colour-blind reader still orders the heat correctly."""
    import re
    from pathlib import Path

    import jaxconcepts.explorer as ex

    js = (Path(ex.__file__).parent / "assets" / "explorer.js").read_text()
    hexes = re.search(r'const hex = "([0-9a-f]+)"', js).group(1)
    rgb = np.frombuffer(bytes.fromhex(hexes), np.uint8).reshape(256, 3).astype(float)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    assert np.all(np.diff(luma) > -0.5)  # uint8 rounding: never a visible step back
    assert np.all(luma[4:] > luma[:-4])  # and rising over any 4 of the 256 steps
    assert luma[-1] - luma[0] > 150


@pytest.mark.parametrize("n, size", [(8, 224), (8, 256), (5, 40), (6, 48), (7, 7), (14, 224),
                                     (3, 10), (8, 64)])
def test_extreme_rows_give_the_upsampled_min_and_max_exactly(n, size):
    """grid_maps upsamples only the rows and columns that can hold an extremum: the min and max
    equal the full ``jax.image.resize``'s on random and peaky maps."""
    from jaxconcepts.explorer._payload import _interp

    rng = np.random.default_rng(n * 1000 + size)
    Ry, Rx = _interp(n, size), _interp(n + 1, size + size // n)
    for t in range(25):
        X = rng.normal(size=(n, n + 1))
        if t % 2:  # sparse, sharp peaks: the interpolation misses the grid's max most there
            X = np.maximum(X, 0) ** 3
        full = np.asarray(jax.image.resize(X, (size, size + size // n), "bilinear"))
        sub = Ry @ X @ Rx.T
        assert sub.max() == pytest.approx(full.max(), abs=1e-5)
        assert sub.min() == pytest.approx(full.min(), abs=1e-5)
