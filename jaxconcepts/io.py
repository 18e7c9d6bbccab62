"""Atomic file output, public: what a research script or a benchmark writes goes through the
same helpers as every stage's outputs (a temporary sibling renamed into place, so an interrupted
run never leaves a half-written file; JSON with NumPy scalars and arrays converted).

The implementation is :mod:`jaxconcepts._io`, the root module every package imports.
"""

from jaxconcepts._io import (atomic_dir, atomic_path, load_arrays, save_arrays, sha256_file,
                             write_json, write_text)

__all__ = ["atomic_path", "atomic_dir", "write_json", "write_text", "save_arrays", "load_arrays",
           "sha256_file"]
