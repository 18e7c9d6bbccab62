"""Coverage@τ on toy masks (evaluation/_localisation.py): IoU of binarised code maps."""

import numpy as np
import pytest

from jaxconcepts.evaluation._localisation import (
    binarise_maps,
    concept_ious,
    coverage,
    per_class_maps,
)

B, H, W = 2, 4, 4


def _mask(cells):
    """(B, H·W) 0/1 coverage of the cells ``[(image, row, col), ...]``."""
    m = np.zeros((B, H, W))
    for b, i, j in cells:
        m[b, i, j] = 1.0
    return m.reshape(B, H * W)


SQUARE = _mask([(0, 1, 1), (0, 1, 2), (0, 2, 1), (0, 2, 2), (1, 0, 0), (1, 0, 1)])  # 6 cells


def test_a_map_equal_to_the_mask_gives_iou_1_and_a_shifted_one_less():
    shifted = np.roll(SQUARE.reshape(B, H, W), 1, axis=2).reshape(B, H * W)  # one column right
    codes = np.stack([SQUARE, shifted, np.zeros_like(SQUARE)], -1)  # (B, p, 3)
    iou = concept_ious(codes, SQUARE[:, None, :])  # one class
    # the shift keeps 3 of the 6 cells: 3 / (6 + 6 - 3)
    np.testing.assert_allclose(iou[:, 0], [1.0, 3 / 9, 0.0])
    cov = coverage(iou, class_names=["square"], concept_labels=["a", "b", "never"])
    assert cov["coverage"] == {"0.3": 1.0, "0.5": 1.0} and cov["best_concept"] == {"square": "a"}
    cov = coverage(iou[1:], class_names=["square"])  # only the shifted map and an empty one
    assert cov["coverage"] == {"0.3": 1.0, "0.5": 0.0}
    np.testing.assert_allclose(cov["best_iou"]["square"], 1 / 3)


def test_maps_are_binarised_at_half_the_concepts_largest_code_over_all_images():
    # inside the mask: 1.0 on image 0, 0.3 on image 1; background 0.45 on image 0
    codes = np.where(SQUARE > 0, np.array([[1.0], [0.3]]), np.array([[0.45], [0.0]]))
    on = binarise_maps(codes[..., None])[..., 0]
    # > 0.5 x 1.0: the image-0 square only; the weak image-1 cells and the 0.45 background are off
    np.testing.assert_array_equal(on, (SQUARE > 0) & (np.arange(B)[:, None] == 0))
    # so the IoU is 4 / 6 (a per-image rescaling would give 1, a code > 0 rule 6 / 18)
    np.testing.assert_allclose(concept_ious(codes[..., None], SQUARE[:, None, :]), [[4 / 6]])
    # a cell belongs to the mask when the class covers at least half of it
    half = SQUARE * 0.5 + (1 - SQUARE) * 0.49
    np.testing.assert_allclose(concept_ious(SQUARE[..., None], half[:, None, :]), [[1.0]])


def test_absent_classes_are_left_out_and_per_class_concepts_live_on_their_class():
    masks = np.stack([SQUARE, np.zeros_like(SQUARE)], 1)  # class 1 absent
    iou = concept_ious(SQUARE[..., None], masks)
    assert iou[0, 0] == 1.0 and np.isnan(iou[0, 1])
    cov = coverage(iou, class_names=["square", "gone"])
    assert cov["n_classes"] == 1 and set(cov["best_iou"]) == {"square"}
    # per-class dictionaries: concept j of class y is concept y·k + j, on class y's images only
    U = np.stack([SQUARE, SQUARE], -1)  # (B, p, k=2), the same codes on both images
    codes, defined = per_class_maps(U, np.array([0, 1]), 2)
    assert codes.shape == (B, H * W, 4)
    np.testing.assert_array_equal(defined, [[1, 1, 0, 0], [0, 0, 1, 1]])
    np.testing.assert_array_equal(codes[0, :, 2:], 0.0)
    # class 0's concept 0 covers image 0's part of the square only: 4 of its 6 cells
    np.testing.assert_allclose(concept_ious(codes, SQUARE[:, None, :], defined)[:, 0],
                               [4 / 6, 4 / 6, 2 / 6, 2 / 6])


def test_bad_shapes_name_the_argument():
    with pytest.raises(ValueError, match="codes should be"):
        concept_ious(SQUARE, SQUARE[:, None, :])
    with pytest.raises(ValueError, match="masks should be"):
        concept_ious(SQUARE[..., None], SQUARE[:, None, :5])
    with pytest.raises(ValueError, match="defined should be"):
        binarise_maps(SQUARE[..., None], np.ones((B, 2), bool))
