"""The pipeline's parameters (``params.yaml``), public: loaded and checked as every stage loads
them, and the typed sections that the store-level runners take.

Every section of ``params.yaml`` is a frozen dataclass (``Concepts``, ``C2MF``, ``Recovery``, …)
with no defaults: values live in a params file. The runners that work over a whole activation
store (:func:`jaxconcepts.runners.run_concepts`, :func:`jaxconcepts.runners.run_c2mf`,
:func:`jaxconcepts.runners.run_recovery`) take one of these, never a dict::

    from jaxconcepts.params import load_section
    cfg = load_section("c2mf", dataset="planted")          # params.yaml, with planted's overrides
    cfg = dataclasses.replace(cfg, k=[10], seed=0)          # change what you study

``load_section`` resolves a section's ``seed: null`` to the file's top-level ``seed`` (what the
stages do), so the runners get a concrete seed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from jaxconcepts._params import check_params, dataset_params, load_params, parse_section
from jaxconcepts._schema import (C2MF, OOD, Atlas, Compare, Concepts, Crops, Explorer, Extract,
                                 Figures, Importance, Naming, Objects, Planted, Prepare, Recovery,
                                 Report, Train)

__all__ = ["C2MF", "OOD", "Atlas", "Compare", "Concepts", "Crops", "Explorer", "Extract",
           "Figures", "Importance", "Naming", "Objects", "Planted", "Prepare", "Recovery",
           "Report", "Train", "check_params", "dataset_params", "load_params", "load_section",
           "parse_section", "with_seed"]


def with_seed(section: Any, seed: int) -> Any:
    """``section`` with its ``seed`` set to ``seed`` when it is ``None`` (unchanged otherwise)."""
    if getattr(section, "seed", 0) is None:
        return dataclasses.replace(section, seed=int(seed))
    return section


def load_section(name: str, path: str | Path = "params.yaml", *, dataset: str | None = None,
                 overrides: Mapping[str, Any] | None = None) -> Any:
    """The typed, checked section ``name`` of a params file.

    Args:
      name: a section of ``params.yaml`` (``concepts``, ``c2mf``, ``recovery``, …).
      path: the params file.
      dataset: apply ``datasets.<dataset>``'s overrides first, as the stages do.
      overrides: keys of the section to replace before checking.

    Raises:
      ValueError: unknown section, dataset or key, or a value the schema rejects (the message
        names the valid keys or choices). FileNotFoundError: no params file at ``path``.
    """
    params = load_params(path)
    if dataset is not None:
        params = dataset_params(params, dataset)
    if name not in params:
        raise ValueError(f"params file {str(path)!r} has no section {name!r}")
    section = parse_section(name, {**params[name], **dict(overrides or {})})
    return with_seed(section, params.get("seed", 0))
