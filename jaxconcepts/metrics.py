"""The papers' metrics on arrays: one public home and one calling convention.

Arguments come in this order wherever they apply: the fitted ``model`` (any concept
decomposition with ``transform`` / ``reconstruct``: C2MF, CRAFT, the PCA baseline, an SAE) or
its codes; the rows, per image ``(n_images, p, c)`` (an image's ``(c, h, w)`` map as its
``p = h·w`` rows) or flat ``(n, c)``; the classes ``y`` (one per image, or one per row); the
``head``. A **head** is a :data:`jaxconcepts.heads.Head` that JAX can trace (:func:`head_fn`
turns it into ``h(rows (p, c)) -> logits (K,)`` for one image):

- a :class:`~jaxconcepts.heads.HeadParams` (global average pool + linear layer, what a store
  records as ``store.head``; any record with ``weight`` and ``bias``), or
- a callable ``h(rows (p, c)) -> logits (K,)`` for one image, traceable by JAX (the gradient
  rankings of insertion/deletion differentiate it).

A :class:`~jaxconcepts.heads.HostHead` (an h run on the host, e.g. torch) is refused with a
``TypeError`` here: these functions trace h.

Lambert et al. (clustering for explainability):
    :func:`cluster_metrics` — silhouette, Calinski-Harabasz and Davies-Bouldin of one image's
    channel clustering (Tables 1–2).

C2MF (§3.3):
    :func:`concept_similarity` (Table 1), :func:`reconstruction_accuracy` (Table 2),
    :func:`train_test_mse` (Table 3), :func:`insertion_deletion` (Fig. 3's curves and AUCs);
    :func:`ood_metrics` (App. B: AUROC and FPR at a TPR of images against crops).

Recovery of known atoms (the methods' scoreboard):
    :func:`mcc`, :func:`atom_recovery`, :func:`explained_variance`, :func:`dead_latents`,
    :func:`stability` (across seeds), :func:`concept_ious` and :func:`coverage` (maps against
    object masks, Coverage@τ).

Each function here is the one the pipeline's stages use (the same code), exposed with the
convention above.
"""

from __future__ import annotations

from jaxconcepts.heads import Head, head_fn

__all__ = [
    "Head",
    "head_fn",
    "cluster_metrics",
    "concept_similarity",
    "reconstruction_accuracy",
    "train_test_mse",
    "insertion_deletion",
    "ood_metrics",
    "mcc",
    "atom_recovery",
    "explained_variance",
    "dead_latents",
    "stability",
    "concept_ious",
    "coverage",
]

def _images(A_images, name: str = "A_images"):
    import numpy as np

    A = np.asarray(A_images, np.float32)
    if A.ndim != 3:
        raise ValueError(f"{name} should be (n_images, p, c) — each image's rows — got shape "
                         f"{A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or inf")
    return A


def _image_classes(y, n_images: int, name: str = "y"):
    import numpy as np

    y = np.asarray(y)
    if y.shape != (n_images,) or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError(f"{name} should be ({n_images},) non-negative ints (one class per "
                         f"image), got shape {y.shape} dtype {y.dtype}")
    return y.astype(np.int32)


def _predictions(h, A):
    import jax
    import jax.numpy as jnp
    import numpy as np

    return np.asarray(jnp.argmax(jax.vmap(h)(jnp.asarray(A)), axis=-1), np.int32)


def cluster_metrics(x, labels, weights=None, *, n_clusters: int | None = None):
    """Silhouette, Calinski-Harabasz and Davies-Bouldin of one labelling of points ``x (n, D)``
    (:func:`jaxconcepts.kernels.cluster_metrics`; ``vmap`` it over images)."""
    from jaxconcepts.kernels import cluster_metrics as _cluster_metrics

    return _cluster_metrics(x, labels, weights, n_clusters=n_clusters)


def concept_similarity(model_or_concepts) -> dict:
    """C2MF Table 1: mean ± std of pairwise |Pearson| and |cosine| between a model's concepts
    (``model.concepts``) or concepts given as ``(k, c)`` / ``(Y, k, c)`` (pairs within each
    class, pooled)."""
    from jaxconcepts.evaluation import concept_similarity as _similarity

    concepts = getattr(model_or_concepts, "concepts", model_or_concepts)
    return _similarity(concepts)


def reconstruction_accuracy(model, A_images, y, head, *, label=None,
                            n_classes: int | None = None) -> dict:
    """C2MF Table 2: per class, how often the head's class on the reconstructed rows
    ``reconstruct(transform(A))`` equals its class on the rows themselves (``acc_pred``) and,
    given ``label`` (head outputs, -1 unknown), the label (``acc_label``).

    Args:
        A_images: ``(n_images, p, c)``; y: ``(n_images,)`` each image's class (the model's
            class: its gate or per-class dictionary, and the grouping); head: see the module.
        n_classes: the number of classes (default ``max(y) + 1``).

    Returns:
        ``acc_pred``, ``acc_label`` ``(n_classes,)`` (NaN for a class without images) and their
        ``_mean`` / ``_std`` over the classes that have images.
    """
    import numpy as np

    from jaxconcepts.evaluation import reconstruction_accuracy as _accuracy

    A = _images(A_images)
    y = _image_classes(y, A.shape[0])
    h = head_fn(head)
    label = np.full(A.shape[0], -1, np.int32) if label is None else np.asarray(label, np.int32)
    n = int(y.max()) + 1 if n_classes is None else int(n_classes)
    return _accuracy(model, A, y, label, _predictions(h, A), h, n_classes=n)


def train_test_mse(model, A_train, y_train, A_test, y_test) -> dict:
    """C2MF Table 3: the mean squared error per entry of ``reconstruct(transform(A))`` on train
    and test rows ``(n, c)`` with their classes ``(n,)``, test − train, and the mean ± std over
    classes of the per-class MSE."""
    from jaxconcepts.evaluation import consistency

    return consistency(model, A_train, y_train, A_test, y_test)


def insertion_deletion(model, A_images, y, head, *, target=None, ranking: str = "gradcam",
                       n_steps: int = 16):
    """C2MF Fig. 3: concept insertion and deletion curves in code space and their AUCs.

    Each image's concepts are ranked by ``ranking`` (``"gradcam"`` or ``"ig"``: gradients of the
    target's logit with respect to its codes; ``n_steps`` Integrated Gradients steps); insertion
    adds them most important first to all-zero codes, deletion removes them in that order from
    the image's codes; a curve is the head's softmax probability of ``target`` on the
    reconstruction. Higher insertion and lower deletion AUC are better.

    Args:
        A_images: ``(n_images, p, c)``; y: ``(n_images,)`` the model's class of each image;
        head: see the module; target: ``(n_images,)`` the explained head output (default: the
            head's prediction on the image's own rows).

    Returns:
        :class:`~jaxconcepts.evaluation.InsertionDeletion`: ``insertion``, ``deletion``
        ``(n_images, k + 1)``, ``insertion_auc``, ``deletion_auc`` ``(n_images,)`` and the
        ``importance`` ``(n_images, k)`` that ranked them.
    """
    import jax.numpy as jnp
    import numpy as np

    from jaxconcepts.evaluation import insertion_deletion as _insertion_deletion

    A = _images(A_images)
    y = _image_classes(y, A.shape[0])
    h = head_fn(head)
    target = _predictions(h, A) if target is None else np.asarray(target, np.int32)
    n, p, c = A.shape
    U = jnp.asarray(model.transform(A.reshape(n * p, c), np.repeat(y, p))).reshape(n, p, -1)

    def recon(V, cls):
        return model.reconstruct(V, jnp.full((V.shape[0],), cls, jnp.int32))

    return _insertion_deletion(U, y, target, recon, h, method=ranking, n_steps=int(n_steps))


def ood_metrics(score_in, score_out, *, tpr: float = 0.95) -> dict:
    """C2MF App. B: AUROC of telling ``score_in`` (e.g. the max softmax of full images) from
    ``score_out`` (of crops), and the FPR at the given TPR."""
    from jaxconcepts.evaluation import ood_metrics as _ood

    return _ood(score_in, score_out, tpr=tpr)


def mcc(W_hat, W_true) -> float:
    """Mean |cosine| of the Hungarian matching of learnt atoms ``(d, c)`` to true atoms."""
    from jaxconcepts.sae import mcc as _mcc

    return _mcc(W_hat, W_true)


def atom_recovery(W_hat, W_true, *, threshold: float = 0.9) -> dict:
    """Precision, recall and F1 of true atoms recovered at |cosine| ≥ ``threshold``."""
    from jaxconcepts.sae import atom_recovery as _recovery

    return _recovery(W_hat, W_true, threshold=threshold)


def explained_variance(A, R) -> float:
    """R² of reconstructions ``R`` of rows ``A`` ``(n, c)``."""
    from jaxconcepts.sae import explained_variance as _r2

    return _r2(A, R)


def dead_latents(U) -> int:
    """Latents (columns of codes ``U (n, d)``) that never fire."""
    from jaxconcepts.sae import dead_latents as _dead

    return _dead(U)


def stability(dictionaries, *, threshold: float = 0.9) -> dict:
    """Across seeds: pairwise MCC (PW-MCC) and the share of atoms found again at |cosine| ≥
    ``threshold``, over every pair of ``dictionaries`` (each ``(d, c)``)."""
    from jaxconcepts.sae import stability as _stability

    return _stability(dictionaries, threshold=threshold)


def concept_ious(codes, masks, defined=None, **kwargs):
    """IoU of each concept's binarised code map with each object mask (Coverage@τ's input)."""
    from jaxconcepts.evaluation._localisation import concept_ious as _ious

    return _ious(codes, masks, defined, **kwargs)


def coverage(iou, **kwargs) -> dict:
    """Coverage@τ (saev): the share of classes that some concept's map recovers at IoU ≥ τ."""
    from jaxconcepts.evaluation._localisation import coverage as _coverage

    return _coverage(iou, **kwargs)
