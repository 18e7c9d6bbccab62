"""The store works without torch or timm: reading rows of every dtype and naming classes load
neither, and the rows view's half → float32 cast is exact for every finite bit pattern."""

import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from jaxconcepts.store._rows import _cast_transposed

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import sys, tempfile
from pathlib import Path
import ml_dtypes, numpy as np
from jaxconcepts.store import (RowsView, head_label_space, imagenet_definitions,
                               imagenet_descriptions, label_indices)
from tests._builders import write_rows_store

for dt in (np.float16, ml_dtypes.bfloat16, np.float32):
    with tempfile.TemporaryDirectory() as d:
        write_rows_store(d, [(np.ones((2, 3, 2, 2), dt), [0, 1])])
        assert sum(b.A.sum() for b in RowsView(d, images_per_batch=2)) == 24
assert head_label_space(1000).names[1] == "goldfish" and len(imagenet_definitions()) == 1000
assert imagenet_descriptions()[1] == "goldfish, Carassius auratus"
assert label_indices(["n01443537", None], 1000) == ([1, -1], None)
print(",".join(sorted(m for m in ("torch", "timm", "torchvision") if m in sys.modules)))
"""


@pytest.mark.slow
def test_reading_rows_and_names_loads_no_torch_or_timm():
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def _exact(bits: np.ndarray, exp_bits: int, man_bits: int) -> np.ndarray:
    """The value of each (sign, exponent, mantissa) bit pattern, computed in float64 (exact)."""
    bits = bits.astype(np.int64)
    sign = np.where(bits >> (exp_bits + man_bits), -1.0, 1.0)
    e, m = (bits >> man_bits) & ((1 << exp_bits) - 1), bits & ((1 << man_bits) - 1)
    bias = (1 << (exp_bits - 1)) - 1
    frac = np.where(e == 0, m / 2.0**man_bits, 1 + m / 2.0**man_bits)
    return sign * frac * np.exp2(np.where(e == 0, 1 - bias, e - bias).astype(np.float64))


def test_cast_is_exact_for_every_finite_half_and_bfloat16():
    bits = np.arange(1 << 16, dtype=np.uint16)
    for dt, exp_bits, man_bits in ((np.float16, 5, 10), (ml_dtypes.bfloat16, 8, 7)):
        vals = bits.view(dt)
        finite = np.isfinite(vals.astype(np.float32))
        raw = vals[finite].reshape(1, 1, -1)  # (images, C, H·W): the transposed (1, n, 1)
        out = np.empty((1, raw.shape[2], 1), np.float32)
        _cast_transposed(raw, out)
        want = _exact(bits[finite], exp_bits, man_bits).astype(np.float32)
        np.testing.assert_array_equal(out.view(np.uint32).ravel(), want.view(np.uint32))
