"""Concept atlas: top images, usage, recipes, and that the figures draw with the right panels."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxconcepts.viz._atlas import (
    _upsample,
    concept_usage,
    plot_concept_atlas,
    plot_gate_matrix,
    top_images,
)
from jaxconcepts.report import recipe_table


def _toy(N=6, k=3, h=4, w=4, H=16):
    rng = np.random.default_rng(0)
    maps = rng.uniform(0, 0.1, (N, k, h, w))
    maps[2, 0, 1, 1] = 5.0  # image 2 is concept 0's best, image 4 its second
    maps[4, 0, 3, 3] = 3.0
    maps[5, 1] += 1.0  # image 5 has the largest mean for concept 1
    images = rng.uniform(0, 1, (N, H, H, 3))
    return images, maps


def test_top_images():
    _, maps = _toy()
    idx = top_images(maps, top=2)
    assert idx.shape == (3, 2)
    np.testing.assert_array_equal(idx[0], [2, 4])
    assert top_images(maps, top=1, score="mean")[1, 0] == 5
    assert top_images(maps, top=50).shape == (3, 6)
    with pytest.raises(ValueError, match="score"):
        top_images(maps, top=1, score="median")


def test_usage_and_recipe():
    gates = np.array([[0.9, 0.1, 0.6], [0.2, 0.8, 0.7]])
    use = concept_usage(gates, ["a", "b"], threshold=0.5)
    assert use[0] == [("a", 0.9)] and use[2] == [("b", 0.7), ("a", 0.6)] and use[1] == [("b", 0.8)]
    md = recipe_table(gates, ["a", "b"], threshold=0.5, names=["x", "y", "z"])
    assert "| a | 2/3 | C0 x (0.90), C2 z (0.60) |" in md
    assert "| b | 2/3 | C1 y (0.80), C2 z (0.70) |" in md
    assert "| a | 0/3 | – |" in recipe_table(gates, ["a", "b"], threshold=0.95)
    with pytest.raises(ValueError, match="class_names has 1"):
        recipe_table(gates, ["a"], threshold=0.5)


def test_upsample_constant_and_corners():
    m = np.array([[0.0, 1.0], [2.0, 3.0]])
    up = _upsample(m, (4, 4))
    assert up.shape == (4, 4)
    assert up[0, 0] == 0.0 and up[-1, -1] == 3.0
    np.testing.assert_allclose(_upsample(np.full((3, 3), 2.0), (7, 5)), 2.0)


def test_figures_draw():
    images, maps = _toy()
    gates = np.array([[0.9, 0.1, 0.6], [0.2, 0.8, 0.7]])
    fig = plot_concept_atlas(images, maps, top=3, names=["x", "y", "z"], gates=gates,
                             class_names=["a", "b"], title="toy")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 9
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("C0 x | used by: a 0.90" in t for t in texts)
    assert fig.axes[0].get_title().startswith("#2 ")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:4] == b"\x89PNG"
    fig = plot_gate_matrix(gates, ["a", "b"], title="gates")
    assert len(fig.axes[0].texts) == 6
    fig.savefig(io.BytesIO(), format="png", dpi=40)
    with pytest.raises(ValueError, match="disagree"):
        plot_concept_atlas(images[:2], maps, top=1)
    with pytest.raises(ValueError, match="without class_names"):
        plot_concept_atlas(images, maps, top=1, gates=gates)
