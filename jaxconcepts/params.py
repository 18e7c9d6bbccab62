"""The pipeline's parameters (``params.yaml``), public: loaded and checked as every stage loads
them, so a script or benchmark reads the same defaults.

The implementation is :mod:`jaxconcepts._params`, the root module every stage imports.
"""

from jaxconcepts._params import check_params, dataset_params, load_params

__all__ = ["load_params", "dataset_params", "check_params"]
