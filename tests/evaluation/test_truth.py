"""Planted ground truth beside a store (evaluation/_truth.py): store rows matched to truth files,
the part maps subsampled for scoring."""

import numpy as np
import pytest

from jaxconcepts.evaluation._truth import match_rows, scoring_masks


def test_match_rows_reports_missing_images():
    rows = match_rows([{"path": "/x/a/1.png"}, {"path": "b/2.png"}], ["b/2.png", "a/1.png"])
    assert rows.tolist() == [1, 0]
    with pytest.raises(ValueError, match="no planted ground truth"):
        match_rows([{"path": "c/3.png"}], ["b/2.png"])


def test_scoring_masks_subsample_large_truths_only():
    pm = np.full((2, 256, 256), -1, np.int8)
    pm[:, 64:128, 32:96] = 3
    small = scoring_masks(pm, 64)
    assert small.shape == (2, 64, 64)
    assert (small == 3).sum(axis=(1, 2)).tolist() == [16 * 16, 16 * 16]  # same share of the image
    assert scoring_masks(pm, None) is pm and scoring_masks(pm[:, :64, :64], 64).shape[1] == 64
    with pytest.raises(ValueError, match="mask_size=48 should divide"):
        scoring_masks(pm, 48)
