"""What the importance step reads of the ``concepts`` stage's file: its metadata and the concept
and sub-concept counts of its labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["safetensors_metadata", "concept_sizes"]


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file ({} when none)."""
    from jaxconcepts._safetensors import metadata

    return metadata(path)


def concept_sizes(
    concepts: dict[str, np.ndarray],
    methods,
    metadata: dict[str, str] | None = None,
    *,
    n_concepts: int | None = None,
    n_sub: int | None = None,
) -> tuple[int, int]:
    """(K, S) of a concepts file: ``n_concepts`` / ``n_sub`` when given (the ``concepts`` params),
    else the file's metadata of the same names (written by the ``concepts`` stage), else the
    largest ids + 1.

    Raises:
      ValueError: the labels hold ids the sizes do not allow.
    """
    meta = metadata or {}
    k = n_concepts if n_concepts is not None else (meta.get("n_concepts") or None)
    s = n_sub if n_sub is not None else (meta.get("n_sub_concepts") or None)
    found_k = max(int(concepts[f"{m}_labels"].max(initial=-1)) + 1 for m in methods)
    found_s = max(int(concepts[f"{m}_sub_labels"].max(initial=-1)) + 1 for m in methods)
    k = found_k if k is None else int(k)
    s = found_s if s is None else int(s)
    if found_k > k:
        raise ValueError(
            f"concepts file has concept ids up to {found_k - 1} but n_concepts={k}"
        )
    if found_s > s:
        raise ValueError(
            f"concepts file has sub-concept ids up to {found_s - 1} but n_sub_concepts={s}"
        )
    return max(k, 1), max(s, 0)
