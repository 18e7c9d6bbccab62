"""The params.yaml schema: one frozen dataclass per section (jaxconcepts/_schema.py)."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from jaxconcepts import _schema
from jaxconcepts._schema import SECTIONS, section

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


def _built(name, **change):
    """The section ``name`` built from the repository's params.yaml, with ``change`` applied."""
    return dataclasses.replace(SECTIONS[name](**PARAMS[name]), **change)


def test_every_section_mirrors_params_yaml_in_order():
    assert set(SECTIONS) == set(PARAMS) - {"seed", "datasets"}
    for name, cls in SECTIONS.items():
        assert [f.name for f in dataclasses.fields(cls)] == list(PARAMS[name]), name


def test_the_repository_values_pass_every_check():
    for name in SECTIONS:
        obj = _built(name)
        if hasattr(obj, "check"):
            obj.check()
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, dataclasses.fields(obj)[0].name, None)


def test_section_registers_and_refuses_defaults(monkeypatch):
    monkeypatch.setattr(_schema, "SECTIONS", {})

    @section("toy")
    class Toy:
        a: int

    assert _schema.SECTIONS == {"toy": Toy} and dataclasses.is_dataclass(Toy)
    with pytest.raises(TypeError, match="toy2.b has a default in code; put it in params.yaml"):
        @section("toy2")
        class Toy2:
            b: int = 1
    assert "toy2" not in _schema.SECTIONS
    assert "toy" not in SECTIONS  # the real registry is untouched


@pytest.mark.parametrize("name, change, msg", [
    ("prepare", dict(source="folder", folder=None), "prepare.source='folder' needs"),
    ("planted", dict(radius=[1.0]), r"planted.radius=\[1.0\] should be \[min, max\]"),
    ("planted", dict(n_classes=0), "planted.n_classes=0 should be > 0"),
    ("objects", dict(scale=[0.5, 0.2]), "objects.scale"),
    ("train", dict(lr=0.0), "train.lr=0.0 should be > 0"),
    ("concepts", dict(methods=[]), "concepts.methods=\\[\\] should name"),
    ("concepts", dict(cpu_devices=0), "concepts.cpu_devices=0 should be >= 1"),
    ("compare", dict(algorithms=["gmm"]), "must include 'kmeans'"),
    ("compare", dict(sweep=[1, 3]), "compare.sweep"),
    ("ood", dict(tpr=1.5), r"ood.tpr=1.5 should be in \(0, 1\]"),
    ("c2mf", dict(gate_threshold=1.0), "c2mf.gate_threshold=1.0"),
    ("c2mf", dict(alpha_sweep=[0.1, -1.0]), "c2mf.alpha_sweep"),
    ("naming", dict(clip_model="x", clip_checkpoint=None), "go together"),
    ("explorer", dict(thumb=8), "explorer.thumb=8 should be >= 16"),
])
def test_checks_name_the_bad_key(name, change, msg):
    with pytest.raises(ValueError, match=msg):
        _built(name, **change).check()
