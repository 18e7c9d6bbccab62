"""Pure jit/vmap kernels, each written for one example: k-means, masked PCA, cluster metrics,
NMF (HALS), non-negative least squares, and the box coordinate-descent step they share."""

from ._cd import box_step, hals_sweeps
from ._kmeans import (
    KMeansResult,
    assign_t,
    kmeans,
    kmeans_plusplus_t,
    kmeans_t,
    lloyd_t,
    point_hash_t,
)
from ._metrics import (
    ClusterMetrics,
    calinski_harabasz_t,
    cluster_metrics,
    cluster_stats_t,
    davies_bouldin_t,
    silhouette_t,
    sort_by_cluster_t,
)
from ._nmf import (
    NMFResult,
    NMFState,
    nmf,
    nmf_error_history,
    nmf_init,
    nmf_init_nndsvda,
    nmf_step,
)
from ._nnls import NNLSResult, cd_sweep, nnls, nnls_gram
from ._pca import PCAResult, group_pca_scores_t, pca, pca_fit, pca_transform_t
from ._prefix import prefix_sizes, prefix_switch

__all__ = [
    "KMeansResult",
    "kmeans",
    "kmeans_t",
    "kmeans_plusplus_t",
    "lloyd_t",
    "assign_t",
    "point_hash_t",
    "PCAResult",
    "pca",
    "pca_fit",
    "pca_transform_t",
    "group_pca_scores_t",
    "ClusterMetrics",
    "cluster_metrics",
    "silhouette_t",
    "calinski_harabasz_t",
    "davies_bouldin_t",
    "cluster_stats_t",
    "sort_by_cluster_t",
    "NMFState",
    "NMFResult",
    "nmf",
    "nmf_error_history",
    "nmf_init",
    "nmf_init_nndsvda",
    "nmf_step",
    "NNLSResult",
    "nnls",
    "nnls_gram",
    "cd_sweep",
    "box_step",
    "hals_sweeps",
    "prefix_sizes",
    "prefix_switch",
]
