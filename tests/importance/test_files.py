"""The importance stage's file helpers (jaxconcepts/importance/_files.py)."""

import numpy as np
import pytest

from jaxconcepts.importance import concept_sizes


def test_concept_sizes_params_then_metadata_then_labels():
    c = {"cgap_labels": np.array([[0, 1, -1]]), "cgap_sub_labels": np.array([[0, 0, -1]])}
    meta = {"n_concepts": "5", "n_sub_concepts": "3"}
    assert concept_sizes(c, ["cgap"], meta) == (5, 3)
    assert concept_sizes(c, ["cgap"], meta, n_concepts=4, n_sub=2) == (4, 2)
    assert concept_sizes(c, ["cgap"], {}) == (2, 1)
    assert concept_sizes(c, ["cgap"]) == (2, 1)
    with pytest.raises(ValueError, match="n_concepts=1"):
        concept_sizes(c, ["cgap"], {"n_concepts": "1", "n_sub_concepts": "3"})
    with pytest.raises(ValueError, match="n_sub_concepts=0"):
        concept_sizes(c, ["cgap"], meta, n_sub=0)
