"""Sparse autoencoders and dictionary baselines for the methods' scoreboard (issue 24).

- :func:`fit_sae` (in memory) and :func:`fit_sae_streamed` (from the activation store, over a
  device mesh and processes): TopK, BatchTopK, JumpReLU and Matryoshka BatchTopK SAEs, returning
  an :class:`SAE` with the ``concepts`` / ``transform`` / ``reconstruct`` protocol;
- :func:`synthetic_features`: SynthSAEBench-style ground truth (more atoms than dimensions,
  Zipfian firing, hierarchy, noise);
- recovery and stability metrics on arrays: :func:`mcc`, :func:`atom_recovery`,
  :func:`explained_variance`, :func:`pairwise_mcc`, :func:`shared_atoms`.
"""
