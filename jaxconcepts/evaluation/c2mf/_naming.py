"""Name dictionary concepts in the classifier's own label space (offline C2MF App. E, Fig. 8).

The paper crops each concept's most representative patches and asks CLIP for the nearest WordNet
words. Offline, the classifier itself can answer in its own label space: for concept ``j`` take the
``top_patches`` rows (spatial positions of the explained images) with the highest code
``U[:, j]``, read each row as a one-position activation map, pass it through the head ``h``
(GAP + linear: ``row @ W.T + b``; any callable on rows otherwise), average the softmax over the
patches and report the ``top_words`` classes with their mean probability. With an ImageNet head the
words are ImageNet lemmas (:func:`jaxconcepts.store.label_space`); with a model trained
on its own classes they are its class names, which says *which class a concept evokes* rather than
what it depicts (documented limitation; the CLIP path in ``features/_clip.py`` names with free
words when the user supplies CLIP weights).

Works for any dictionary method that gives codes for rows (C2MF, CRAFT, PCA).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["ConceptName", "top_patches", "name_concepts", "name_accuracy"]


class ConceptName(NamedTuple):
    """concept: index j; words: [(name, mean probability)] best first; rows: the patch rows used
    (indices into the rows given); mean_code: mean code of those rows; outputs: the head outputs
    the words name, in the same order (names need not be unique: ImageNet has two "crane"s)."""

    concept: int
    words: list[tuple[str, float]]
    rows: np.ndarray
    mean_code: float
    outputs: tuple[int, ...]


def top_patches(codes, *, top: int, groups=None, per_group: int | None = None) -> np.ndarray:
    """``(k, top)`` row indices with the highest code per concept (ties: lower index first).

    Args:
        codes: ``(n, k)`` codes of n rows.
        top: rows per concept, ``1 <= top <= n``.
        groups: optional ``(n,)`` image id of each row; with ``per_group`` at most that many rows
            of one image per concept (so one image cannot supply every patch). Concepts with
            fewer eligible rows are padded with ``-1``.
    """
    U = np.asarray(codes, np.float64)
    if U.ndim != 2:
        raise ValueError(f"codes should have shape (n, k), got {U.shape}")
    n, k = U.shape
    if not 1 <= top <= n:
        raise ValueError(f"top={top} should be in [1, n_rows={n}]")
    order = np.argsort(-U, axis=0, kind="stable")  # (n, k)
    if groups is None or per_group is None:
        return order[:top].T.copy()
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups should have shape (n_rows,)=({n},), got {g.shape}")
    if per_group < 1:
        raise ValueError(f"per_group={per_group} should be >= 1")
    out = np.full((k, top), -1, np.int64)
    for j in range(k):
        seen: dict = {}
        m = 0
        for r in order[:, j]:
            c = seen.get(g[r], 0)
            if c < per_group:
                seen[g[r]] = c + 1
                out[j, m] = r
                m += 1
                if m == top:
                    break
    return out


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def name_concepts(
    rows,
    codes,
    head=None,
    *,
    h: Callable | None = None,
    label_names: Sequence[str],
    top: int,
    n_words: int,
    groups=None,
    per_group: int | None = None,
) -> list[ConceptName]:
    """Top classes of each concept's top patches (module docstring).

    Args:
        rows: ``(n, C)`` activation rows (spatial positions of the images explained).
        codes: ``(n, k)`` their codes (C2MF: ``U ⊙ σ(λ_y)`` or ``U``; CRAFT / PCA: their codes).
        head: GAP + linear head (``weight`` (K, C), ``bias`` (K,)), or
        h: a callable mapping ``(m, C)`` rows to ``(m, K)`` logits.
        label_names: K names of the head's outputs.
        top: patches per concept; n_words: classes reported per concept.
        groups, per_group: see :func:`top_patches`.

    Returns:
        k :class:`ConceptName`, in concept order.
    """
    A = np.asarray(rows, np.float32)
    U = np.asarray(codes, np.float32)
    if A.ndim != 2 or U.ndim != 2 or A.shape[0] != U.shape[0]:
        raise ValueError(f"rows (n, C) and codes (n, k) disagree: {A.shape} vs {U.shape}")
    if (head is None) == (h is None):
        raise ValueError("give exactly one of head (GAP + linear) or h (a callable on rows)")
    idx = top_patches(U, top=top, groups=groups, per_group=per_group)
    K = len(label_names)
    if not 1 <= n_words <= K:
        raise ValueError(f"n_words={n_words} should be in [1, len(label_names)={K}]")
    if head is not None:
        w, b = np.asarray(head.weight, np.float32), np.asarray(head.bias, np.float32)
        if w.shape != (K, A.shape[1]) or b.shape != (K,):
            raise ValueError(f"head weight {w.shape} / bias {b.shape} should be ({K}, "
                             f"{A.shape[1]}) / ({K},) for {K} label_names and C={A.shape[1]}")
        fn = lambda x: x @ w.T + b  # noqa: E731
    else:
        fn = h
    out = []
    for j in range(U.shape[1]):
        r = idx[j][idx[j] >= 0]
        logits = np.asarray(fn(A[r]), np.float64)
        if logits.shape != (len(r), K):
            raise ValueError(f"h should map ({len(r)}, C) rows to ({len(r)}, {K}) logits, got "
                             f"{logits.shape}")
        p = _softmax(logits).mean(0)
        best = np.argsort(-p, kind="stable")[:n_words]
        out.append(ConceptName(j, [(str(label_names[c]), float(p[c])) for c in best], r,
                               float(U[r, j].mean()), tuple(int(c) for c in best)))
    return out


def _chance(n_accepted: int, n_outputs: int, top: int) -> float:
    """P(``top`` distinct head outputs drawn uniformly include one of ``n_accepted``)."""
    miss = 1.0
    for i in range(top):
        miss *= max(n_outputs - n_accepted - i, 0) / (n_outputs - i)
    return 1.0 - miss


def name_accuracy(names: Sequence[Sequence[int] | None], accepted: Sequence[Sequence[int]], *,
                  class_names: Sequence[str], n_outputs: int, top: int = 3,
                  words: Sequence[str] | None = None) -> dict:
    """Name accuracy: the share of classes whose concept is named by an accepted head output.

    A class counts when it has accepted outputs (an object that is no ImageNet class has none and
    is left out). Top-1 is a hit when the concept's first word is accepted, top-``top`` when one
    of its first ``top`` words is. Chance: the same for words drawn uniformly from the
    ``n_outputs`` head outputs without replacement (top-1: ``|accepted| / n_outputs``), averaged
    over the counted classes.

    Args:
        names: per class, the head outputs naming its concept, best first
            (:attr:`ConceptName.outputs`), or None when the class has no concept to name (a miss).
        accepted: per class, the head outputs accepted as its name (may be empty).
        class_names: per class its name.
        n_outputs: K, the head's number of outputs.
        top: the ranked-list cut (1 reports top-1 only).
        words: K names of the head outputs for the per-class record (default: their indices).

    Returns:
        ``{"top1": {"hits", "n_classes", "accuracy", "chance"}, "top<top>": {...} (top > 1),
        "per_class": [{"class", "accepted", "names", "counted", "hit_top1", "hit_top<top>"}]}``
        with words for outputs; accuracy is None when no class counts; hits are None for classes
        that do not count.

    Raises:
        ValueError: lengths disagree, ``top < 1``, or an output is outside ``[0, n_outputs)``.
    """
    Y = len(class_names)
    if len(names) != Y or len(accepted) != Y:
        raise ValueError(f"names ({len(names)}), accepted ({len(accepted)}) and class_names "
                         f"({Y}) should have one entry per class")
    if top < 1:
        raise ValueError(f"top={top} should be >= 1")
    if words is not None and len(words) != n_outputs:
        raise ValueError(f"words has {len(words)} entries, n_outputs={n_outputs}")
    for what, lists in (("names", [n for n in names if n is not None]), ("accepted", accepted)):
        bad = sorted({int(i) for ls in lists for i in ls if not 0 <= int(i) < n_outputs})
        if bad:
            raise ValueError(f"{what} holds outputs {bad[:5]} outside [0, n_outputs={n_outputs})")
    word = (lambda i: str(words[i])) if words is not None else (lambda i: str(int(i)))
    cuts = [1, top] if top > 1 else [1]
    hits = {t: 0 for t in cuts}
    chance = {t: 0.0 for t in cuts}
    per_class, n = [], 0
    for cname, got, acc in zip(class_names, names, accepted):
        acc = sorted({int(i) for i in acc})
        ranked = [] if got is None else [int(i) for i in got]
        rec = {"class": str(cname), "accepted": [word(i) for i in acc],
               "names": [word(i) for i in ranked[:top]], "counted": bool(acc)}
        for t in cuts:
            hit = bool(set(ranked[:t]) & set(acc)) if acc else None
            rec[f"hit_top{t}"] = hit
            if acc:
                hits[t] += hit
                chance[t] += _chance(len(acc), n_outputs, t)
        n += bool(acc)
        per_class.append(rec)
    out = {f"top{t}": {"hits": hits[t], "n_classes": n,
                       "accuracy": hits[t] / n if n else None,
                       "chance": chance[t] / n if n else None} for t in cuts}
    out["per_class"] = per_class
    return out
