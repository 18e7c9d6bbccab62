"""The c2mf stage's writers (``jaxconcepts/stages/_c2mf_write.py``): a disabled dataset gets every
output, each saying why; a NaN in the metrics stops the writer before its first file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxconcepts.runners import C2MFOutputs
from jaxconcepts.stages._c2mf_write import FIGURES, write_c2mf, write_c2mf_disabled

OUTPUTS = ("c2mf.json", "c2mf.md", "c2mf_atlas.md", "c2mf_alpha_sweep.md",
           "c2mf_alpha_sweep.json", "c2mf_loss.csv")


class _Store:
    """The two things the disabled writer reads: the image count and each image's class."""

    def __init__(self, targets):
        self._t = np.asarray(targets)

    def __len__(self):
        return len(self._t)

    def read(self, field):
        assert field == "target"
        return self._t


def test_disabled_writes_every_output_saying_why(tmp_path):
    data, out = tmp_path / "data", tmp_path / "reports"
    (out / FIGURES).mkdir(parents=True)
    (out / FIGURES / "stale.png").write_bytes(b"old")
    write_c2mf_disabled(_Store([0, 1, 2, 3]), dataset="toy", data_dir=data, out=out, alpha=0.1)
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    note = json.loads((out / "c2mf.json").read_text())["note"]
    assert "4 images in 4 classes" in note and "not supported" in note
    assert note[:40] in (out / "c2mf.md").read_text()
    assert json.loads((out / "c2mf_alpha_sweep.json").read_text()) == {"rows": []}
    assert (out / FIGURES / "NONE.txt").is_file()
    assert not (out / FIGURES / "stale.png").exists()  # no stale figure left behind
    assert {p.name for p in data.iterdir()} == {"dictionaries.safetensors", "atlas.safetensors"}


def test_a_nan_in_the_metrics_writes_nothing(tmp_path):
    res = C2MFOutputs(metrics={"dataset": "toy", "results": {"c2mf": {"k3": float("nan")}}},
                      arrays={}, histories={}, fits=None)
    data, out = tmp_path / "data", tmp_path / "reports"
    with pytest.raises(ValueError, match="JSON compliant|NaN|nan"):
        write_c2mf(res, dataset="toy", data_dir=data, out=out, cfg=None, atlas=None,
                   load_image=None)
    assert not data.exists() and not out.exists()
