"""Overlays, panel order, PNG figures (the model view: tests/viz/test_image.py)."""

import numpy as np
import pytest
from PIL import Image

from jaxconcepts.viz import (
    concept_order,
    overlay,
    plot_compare,
    plot_concepts,
    plot_sub_concepts,
    save_png,
    to_gray,
)


def _image(w, h, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8))


def test_to_gray_and_overlay():
    g = to_gray(np.full((2, 2, 3), 255, np.uint8))
    np.testing.assert_allclose(g, 1.0, rtol=1e-6)
    gray = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    rgb = overlay(gray, np.zeros((4, 4)))
    # map 0 -> hot(0), the darkest colour of the ramp, everywhere: nothing of the concept shows
    import matplotlib

    np.testing.assert_allclose(
        rgb, np.broadcast_to(matplotlib.colormaps["hot"](0.0)[:3], rgb.shape)
    )
    assert rgb.max() < 0.05
    full = overlay(np.ones((4, 4)), np.full((4, 4), 2.0))  # clipped to 1 -> hot(1) = white
    np.testing.assert_allclose(full, 1.0)
    with pytest.raises(ValueError, match="concept_map shape"):
        overlay(gray, np.zeros((3, 3)))


def test_concept_order_sorts_by_decreasing_importance_and_drops_empty():
    assert concept_order(np.array([5.0, 40.0, -2.0, 40.0, 99.0]), np.array([3, 1, 2, 4, 0])) == [
        1,
        3,
        0,
        2,
    ]


def test_figures_write_png(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.random((16, 16)).astype(np.float32)
    maps = rng.random((3, 16, 16)).astype(np.float32)
    imp, cnt = np.array([1.0, 20.0, -3.0]), np.array([4, 2, 0])
    paths = []
    fig = plot_concepts(gray, maps, imp, cnt, title="t")
    # one axes per row: the input and the panels by decreasing importance, each titled above
    titles = [t.get_text() for t in fig.axes[0].texts]
    assert len(fig.axes) == 1 and titles[0] == "input"
    assert titles[1].startswith("C1  A_N=2\nI=20.000") and titles[2].startswith("C0  A_N=4")
    assert len(titles) == 3  # concept 2 is empty: a blank panel, no title
    img = fig.axes[0].images[0].get_array()
    assert img.shape[0] == 16 and img.shape[1] == 4 * 16 + 3 * 2  # 4 panels, 2-px gaps
    assert np.allclose(img[:, -16:], 1.0)  # the empty concept's panel is white
    paths.append(tmp_path / "c.png")
    save_png(fig, paths[-1])
    sub = rng.random((3, 2, 16, 16)).astype(np.float32)
    fig = plot_sub_concepts(
        gray, sub, rng.normal(size=(3, 2)), np.array([[1, 3], [2, 0], [0, 0]]), [1, 0]
    )
    paths.append(tmp_path / "s.png")
    save_png(fig, paths[-1])
    fig = plot_compare(gray, {"cgap": (maps, imp, cnt), "cpha": (maps[::-1], imp, cnt)})
    assert [ax.texts[0].get_text() for ax in fig.axes] == ["CGAP", "CPHA"]
    paths.append(tmp_path / "x.png")
    save_png(fig, paths[-1])
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
