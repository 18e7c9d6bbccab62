"""Sparse autoencoders and dictionary baselines for the methods' scoreboard.

- :func:`fit_sae` (in memory) and :func:`fit_sae_streamed` (from the activation store, over a
  device mesh and processes; ``shards_per_step`` for steps that do not depend on the process
  count): TopK, BatchTopK, JumpReLU, Matryoshka BatchTopK and archetypal (RA-SAE) SAEs,
  returning an :class:`SAE` with the ``concepts`` / ``transform`` / ``reconstruct`` protocol;
- :func:`fit_seminmf` (SemiNMF, signed atoms, codes ≥ 0) and :func:`fit_kmeans_dictionary`
  (k-means centroids as a dictionary, one-hot projected codes), in memory, and
  :func:`fit_seminmf_streamed`, :func:`fit_kmeans_dictionary_streamed` (from the activation
  store over a device mesh and processes: per-pass sums, one exact update per pass);
- :func:`synthetic_features`: SynthSAEBench-style ground truth (more atoms than dimensions,
  Zipfian firing, hierarchy, noise);
- recovery and stability metrics on arrays: :func:`mcc`, :func:`atom_recovery`,
  :func:`explained_variance`, :func:`pairwise_mcc`, :func:`shared_atoms`;
- sanity baselines: :func:`fit_random_sae` (random frozen decoder), :func:`random_directions`,
  :func:`paired_interval`, :func:`compare_to_random`, :func:`sae_vs_random`;
- stability over seeds, resumable per seed: :func:`stability_runs`, :func:`sae_stability`
  (independent vs shared / k-means initialisations);
- matched explained variance: :func:`match_r2` (bisection over k or the L0 penalty);
- the ground's classes for the class-conditional methods: :func:`feature_groups`,
  :func:`synthetic_classes` (a row's strongest top-level feature group), read back with
  :func:`load_feature_store`;
- C2MF, CRAFT's NMF and the per-class PCA scored like the SAEs: :func:`class_fitters`
  (:class:`ClassDictionary`: per-class atoms pooled), :func:`nonnegative_ceiling`;
- the synthetic ground's scoreboard rows: :func:`synthetic_scoreboard` (every method at
  matched R², against its random counterpart, and its stability; streamed SAE rows beside the
  in-memory ones).
"""

from jaxconcepts.sae._baselines import (
                                           atoms_of,
                                           compare_to_random,
                                           fit_random_sae,
                                           paired_interval,
                                           random_directions,
                                           sae_vs_random,
)
from jaxconcepts.sae._classwise import (
                                           CLASS_METHODS,
                                           ClassDictionary,
                                           class_fitters,
                                           nonnegative_ceiling,
)
from jaxconcepts.sae._dictionaries import (
                                           KMeansDictionary,
                                           SemiNMF,
                                           fit_kmeans_dictionary,
                                           fit_seminmf,
)
from jaxconcepts.sae._metrics import (
                                           abs_cosine,
                                           atom_recovery,
                                           dead_latents,
                                           explained_variance,
                                           match,
                                           mcc,
                                           pairwise_mcc,
                                           shared_atoms,
                                           stability,
)
from jaxconcepts.sae._models import METHODS, SAE, SAEConfig
from jaxconcepts.sae._scoreboard import METHOD_KNOBS, synthetic_scoreboard
from jaxconcepts.sae._stability import INITS, sae_stability, stability_runs
from jaxconcepts.sae._streamed_dicts import (
                                           fit_kmeans_dictionary_streamed,
                                           fit_seminmf_streamed,
)
from jaxconcepts.sae._sweep import match_r2, sae_fitter, score_fit
from jaxconcepts.sae._synthetic import (
                                           SynthFeatures,
                                           feature_groups,
                                           feature_model,
                                           load_feature_store,
                                           synthetic_classes,
                                           synthetic_features,
                                           write_feature_store,
)
from jaxconcepts.sae._train import fit_sae, fit_sae_streamed, make_config

__all__ = [
                                           "CLASS_METHODS",
                                           "INITS",
                                           "METHODS",
                                           "METHOD_KNOBS",
                                           "SAE",
                                           "ClassDictionary",
                                           "KMeansDictionary",
                                           "SAEConfig",
                                           "SemiNMF",
                                           "SynthFeatures",
                                           "abs_cosine",
                                           "atom_recovery",
                                           "atoms_of",
                                           "class_fitters",
                                           "compare_to_random",
                                           "dead_latents",
                                           "explained_variance",
                                           "feature_groups",
                                           "feature_model",
                                           "fit_kmeans_dictionary",
                                           "fit_kmeans_dictionary_streamed",
                                           "fit_random_sae",
                                           "fit_sae",
                                           "fit_sae_streamed",
                                           "fit_seminmf",
                                           "fit_seminmf_streamed",
                                           "load_feature_store",
                                           "make_config",
                                           "match",
                                           "match_r2",
                                           "mcc",
                                           "nonnegative_ceiling",
                                           "paired_interval",
                                           "pairwise_mcc",
                                           "random_directions",
                                           "sae_fitter",
                                           "sae_stability",
                                           "sae_vs_random",
                                           "score_fit",
                                           "shared_atoms",
                                           "stability",
                                           "stability_runs",
                                           "synthetic_classes",
                                           "synthetic_features",
                                           "synthetic_scoreboard",
                                           "write_feature_store",
]
