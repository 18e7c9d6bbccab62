"""Intervals over split seeds (evaluation/c2mf/_split_seeds.py): Student's t over per-seed
values."""

import numpy as np
from scipy.stats import t

from jaxconcepts.evaluation.c2mf._split_seeds import seed_interval


def test_seed_interval_is_students_t_and_needs_two_seeds():
    iv = seed_interval([1.0, 2.0, 4.0])
    half = t.ppf(0.975, 2) * np.std([1.0, 2.0, 4.0], ddof=1) / np.sqrt(3)
    assert iv["n"] == 3 and abs(iv["mean"] - 7 / 3) < 1e-12
    assert abs(iv["hi"] - iv["mean"] - half) < 1e-12 and abs(iv["mean"] - iv["lo"] - half) < 1e-12
    assert seed_interval([1.0, None, float("nan")]) == {"mean": 1.0, "lo": None, "hi": None, "n": 1}
    assert seed_interval([])["mean"] is None
