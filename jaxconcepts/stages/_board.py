"""The second pipeline's params file (``scoreboard/params.yaml``): one checked reader for its
sections (stages ``scoreboard`` and ``grounds``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

__all__ = ["board_section"]


def board_section(cls, path, name: str):
    """Section ``name`` of the second pipeline's params file as the dataclass ``cls``: every key
    required, none unknown, and at least 5 distinct ``seeds`` (the stability and the intervals).

    Raises:
        ValueError: no such section, unknown or missing keys (naming the valid ones), too few
            seeds.
    """
    section = (yaml.safe_load(Path(path).read_text()) or {}).get(name)
    if not isinstance(section, dict):
        raise ValueError(f"{str(path)!r} has no `{name}` section")
    names = [f.name for f in dataclasses.fields(cls)]
    bad, missing = sorted(set(section) - set(names)), sorted(set(names) - set(section))
    if bad or missing:
        raise ValueError(f"{name} params: unknown keys {bad}, missing keys {missing}; "
                         f"valid keys: {names}")
    s = cls(**section)
    if len(set(s.seeds)) < 5:
        raise ValueError(f"{name}.seeds={s.seeds}: stability needs >= 5 distinct seeds")
    return s
