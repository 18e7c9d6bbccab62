"""Dataset-level methods streamed from the activation store, on any number of devices and hosts.

- mesh / processes (re-exported from :mod:`jaxconcepts.mesh`, the one mesh module):
  :func:`data_mesh`, :func:`initialize_distributed`, :func:`put_rows`, :func:`replicate`,
  :func:`to_host`;
- fits on sufficient statistics: :func:`fit_c2mf_streamed` (one BCD step per pass),
  :func:`fit_nmf_streamed` (per-class NMF, one ALS step per pass), :func:`fit_pca_streamed`
  (per-class covariance, then one ``eigh`` on the host);
- new data: :func:`stream_c2mf_codes`, :func:`stream_codes`; a fitted per-class NMF's error over
  every row: :func:`nmf_error`;
- synthetic stores: :func:`write_synthetic_store` and its planted atoms,
  :func:`planted_dictionary`; the same planted rows in memory: :func:`planted_atoms`,
  :func:`planted_rows`;
- evaluation streams in :mod:`jaxconcepts.evaluation` (the C2MF suite reads the same rows view).

Rows come from :class:`jaxconcepts.store.RowsView` (``store/_rows.py``).
"""

from jaxconcepts.mesh import data_mesh, initialize_distributed, put_rows, replicate, to_host
from jaxconcepts.store import RowsView
from jaxconcepts.streaming._c2mf import fit_c2mf_streamed, stream_c2mf_codes
from jaxconcepts.streaming._nmf import (StreamedNMF, fit_nmf_streamed, fit_pca_streamed, nmf_error,
                                        stream_codes)
from jaxconcepts.streaming._synthetic import (planted_atoms, planted_dictionary, planted_rows,
                                              write_synthetic_store)

__all__ = ["data_mesh", "initialize_distributed", "put_rows", "replicate", "to_host",
           "fit_c2mf_streamed", "stream_c2mf_codes", "StreamedNMF", "fit_nmf_streamed",
           "fit_pca_streamed", "stream_codes", "nmf_error", "write_synthetic_store",
           "planted_dictionary", "planted_atoms", "planted_rows", "RowsView"]
