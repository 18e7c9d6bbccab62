"""The ``recovery`` stage's runner: every source scored against planted (or object) ground truth
over a whole store.

Sources (rows of the recovery table), for each method ``m``: ``m`` (its K concepts, importance from
the importance stage), ``m_sub`` (its K x S sub-concepts, sub-concept importance), ``random_m``
(the baseline: each image's live channels regrouped at random with the same concept sizes,
importance recomputed with the same head and target) and ``random_m_sub`` (the same with the
sub-concept sizes: K·S groups, the baseline of ``m_sub``). The scores are defined in
:mod:`jaxconcepts.evaluation.clustering._recovery`.

The importance AUROC of a method is compared with its baseline fairly (docs/PAPERS_FINDINGS.md §1):
the random groupings run once per seed (``recovery.baseline_seeds``), and
:func:`~jaxconcepts.evaluation.paired_baseline` reports the baseline as mean ± std over
seeds and the **paired** difference on the images both define. Concept size (channel count) used
as the score, on the same (image, concept) pairs, is reported as a reference: it shows how much of
the AUROC size alone explains. **Extension point**: a new method adds a function to
:data:`SOURCES` returning low-resolution maps, validity and importance for a batch.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, NamedTuple

import jax
import numpy as np

from jaxconcepts.evaluation import finite_mean, match_rows, scoring_masks, size_auroc

if TYPE_CHECKING:
    from jaxconcepts._schema import Recovery

__all__ = ["SOURCES", "SourceBatch", "Context", "run_recovery", "per_image_scores",
           "claim_intervals", "CLAIM_FIELDS"]


class SourceBatch(NamedTuple):
    """What a source gives for a batch: maps (B, G, h, w), valid (B, G) bool, importance (B, G),
    sizes (B, G) channels per group."""

    maps: np.ndarray
    valid: np.ndarray
    importance: np.ndarray | None
    sizes: np.ndarray


class Context(NamedTuple):
    """Everything a source may read for one batch of rows (row order of the batch)."""

    activations: jax.Array  # (B, C, h, w)
    concepts: dict[str, np.ndarray]  # concepts file rows for this batch
    importance: dict[str, np.ndarray]  # importance file rows for this batch
    target: np.ndarray  # (B,)
    head: object  # HeadParams / HostHead (concept_importance's head) for recomputing importance
    n_concepts: int
    n_sub: int
    key: jax.Array


def _groups(activations, labels, n_groups):
    """Maps (B, G, h, w), valid (B, G) and sizes (B, G) of a grouping of channels (B, C)."""
    from jaxconcepts.concepts._maps import group_maps

    maps = np.asarray(group_maps(activations, labels, n_groups=n_groups))
    member = np.asarray(labels)[:, None, :] == np.arange(n_groups)[None, :, None]
    valid = member.any(-1) & (maps.reshape(*maps.shape[:2], -1).max(-1) > 0)
    return maps, valid, member.sum(-1)


def _sub_groups(ctx: Context, m: str):
    """Sub-concepts as K·S groups: ``lab * S + sub`` (-1 for dead channels), and K·S."""
    lab, sub = ctx.concepts[f"{m}_labels"], ctx.concepts[f"{m}_sub_labels"]
    s = max(ctx.n_sub, 1)
    return np.where((lab >= 0) & (sub >= 0), lab * s + sub, -1), ctx.n_concepts * s


def _method(m: str) -> Callable[[Context], SourceBatch]:
    def fn(ctx: Context) -> SourceBatch:
        maps, valid, sizes = _groups(ctx.activations, ctx.concepts[f"{m}_labels"],
                                     ctx.n_concepts)
        return SourceBatch(maps, valid, ctx.importance.get(f"{m}_importance"), sizes)

    return fn


def _sub(m: str) -> Callable[[Context], SourceBatch]:
    def fn(ctx: Context) -> SourceBatch:
        grp, g = _sub_groups(ctx, m)
        maps, valid, sizes = _groups(ctx.activations, grp, g)
        imp = ctx.importance.get(f"{m}_sub_importance")
        imp = None if imp is None else imp.reshape(imp.shape[0], -1)
        return SourceBatch(maps, valid, imp, sizes)

    return fn


def _shuffled(ctx: Context, labels, n_groups: int) -> SourceBatch:
    """``labels`` regrouped at random (same group sizes), importance recomputed with the head."""
    from jaxconcepts.evaluation.clustering._recovery import random_grouping
    from jaxconcepts.importance import concept_importance

    lab = np.asarray(random_grouping(labels, key=ctx.key))
    maps, valid, sizes = _groups(ctx.activations, lab, n_groups)
    res = concept_importance(ctx.activations, lab, np.full_like(lab, -1), ctx.target,
                             head=ctx.head, n_concepts=n_groups, n_sub=0)
    return SourceBatch(maps, valid, np.asarray(res.importance), sizes)


def _random(m: str) -> Callable[[Context], SourceBatch]:
    def fn(ctx: Context) -> SourceBatch:
        return _shuffled(ctx, ctx.concepts[f"{m}_labels"], ctx.n_concepts)

    return fn


def _random_sub(m: str) -> Callable[[Context], SourceBatch]:
    def fn(ctx: Context) -> SourceBatch:
        grp, g = _sub_groups(ctx, m)
        return _shuffled(ctx, grp, g)

    return fn


#: name → (kind, method) → factory; run_recovery builds the list of sources from params.
SOURCES: dict[str, Callable[[str], Callable[[Context], SourceBatch]]] = {
    "concepts": _method,
    "sub": _sub,
    "random": _random,
    "random_sub": _random_sub,
}


def run_recovery(store, concepts, importance, truth, cfg: Recovery, *, head, progress: bool = True):
    """Score every source over the whole store.

    Returns:
      ``({source: summary}, {source: per_part}, {source: baseline})``: the summaries hold the
      first seed of each random source and, under ``importance``, ``size_auroc`` (the size-only
      reference); ``baseline`` pairs ``m`` with ``random_m`` and ``m_sub`` with ``random_m_sub``
      over ``cfg.baseline_seeds`` seeds (:func:`~._baseline.paired_baseline`, plus the
      size-only AUROC on the method's images and on the first baseline seed's).
    """
    methods = [m for m in cfg.methods if f"{m}_labels" in concepts]
    if not methods:
        raise ValueError(
            f"recovery.methods={cfg.methods} has no labels in the concepts file "
            f"(keys: {sorted(concepts)})"
        )
    n_seeds = int(cfg.baseline_seeds)
    if cfg.baseline and n_seeds < 1:
        raise ValueError(f"recovery.baseline_seeds={n_seeds} should be >= 1")
    sources, pairs = _sources(methods, concepts, cfg, head=head, n_seeds=n_seeds)
    tally = _score_store(store, concepts, importance, truth, cfg, sources, methods=methods,
                         head=head, progress=progress)
    sizes = {name: np.concatenate(v) for name, v in tally.size_auroc.items()}
    summaries, per_part = _summaries(tally, sizes, truth, cfg)
    return summaries, per_part, _baselines(tally, sizes, pairs, n_seeds, seed=int(cfg.seed))


def _sources(methods, concepts, cfg: Recovery, *, head, n_seeds: int):
    """``(sources, pairs)``: the sources to score, ``(name, function, baseline seed or None)``
    (seed 0 of a random source is its table row), and each method source's random baseline."""
    sources: list[tuple[str, Callable[[Context], SourceBatch], int | None]] = []
    pairs: dict[str, str] = {}  # method source -> its random baseline source
    for m in methods:
        sources.append((m, SOURCES["concepts"](m), None))
        has_sub = cfg.sub_concepts and f"{m}_sub_labels" in concepts
        if has_sub:
            sources.append((f"{m}_sub", SOURCES["sub"](m), None))
        if cfg.baseline:
            if head is None:
                raise ValueError("recovery.baseline needs the store's head (head.safetensors)")
            pairs[m] = f"random_{m}"
            if has_sub:
                pairs[f"{m}_sub"] = f"random_{m}_sub"
            for sd in range(n_seeds):
                sources.append((f"random_{m}", SOURCES["random"](m), sd))
                if has_sub:
                    sources.append((f"random_{m}_sub", SOURCES["random_sub"](m), sd))
    return sources, pairs


@dataclasses.dataclass
class _Tally:
    """The scores of every source, gathered batch by batch over the store."""

    collected: dict  # table row source -> RecoveryScores per batch
    imp_auroc: dict  # (source, seed) -> importance AUROC per image, per batch
    size_auroc: dict  # table row source -> size-only AUROC per batch
    per_image: dict  # (source, seed) -> per_image_scores per batch
    n_mismatch: int = 0  # images whose explained class is not the true one


def _score_store(store, concepts, importance, truth, cfg: Recovery, sources, *, methods, head,
                 progress: bool) -> _Tally:
    """Every source scored on every batch of the store against the ground truth."""
    from tqdm.auto import tqdm

    k = int(importance[f"{methods[0]}_importance"].shape[1])
    sub_key = f"{methods[0]}_sub_importance"
    s = int(importance[sub_key].shape[2]) if sub_key in importance else 0

    truth_rows = match_rows(store.images, truth.files)
    part_map = scoring_masks(truth.part_map, cfg.mask_size)
    cpos = {int(i): r for r, i in enumerate(np.asarray(concepts["index"]))}
    ipos = {int(i): r for r, i in enumerate(np.asarray(importance["index"]))}
    recipes = np.zeros((len(truth.meta["recipes"]), len(truth.part_names)), bool)
    for c, r in enumerate(truth.meta["recipes"]):
        recipes[c, r] = True

    rows = [name for name, _, sd in sources if not sd]  # the table's rows, in order
    tally = _Tally({name: [] for name in rows}, {(n, sd): [] for n, _, sd in sources},
                   {name: [] for name in rows}, {(n, sd): [] for n, _, sd in sources})
    own_classes = truth.meta.get("dataset", "planted") != "objects"
    key = jax.random.key(int(cfg.seed))
    store_row = 0
    bar = tqdm(total=len(store), desc="recovery", unit="img", disable=not progress)
    for b, batch in enumerate(store.iter_batches(int(cfg.batch_size))):
        idx = np.asarray(batch.index)
        try:
            cr = np.asarray([cpos[int(i)] for i in idx])
            ir = np.asarray([ipos[int(i)] for i in idx])
        except KeyError as e:
            raise ValueError(
                f"image index {e} is missing from the concepts or importance file"
            ) from e
        tr = truth_rows[store_row : store_row + len(idx)]
        store_row += len(idx)
        target = np.asarray(importance["target"])[ir]
        label = truth.label[tr]
        # planted: the model's classes are the recipes', so importance is scored where the
        # explained class is the true one; objects: the head explains its own (ImageNet) classes
        # and every image shows its one object, so every image is scored (the papers' setting)
        ok = target == label if own_classes else np.ones(len(idx), bool)
        tally.n_mismatch += int((~ok).sum())
        ctx = Context(
            activations=batch.activations,
            concepts={kk: np.asarray(v)[cr] for kk, v in concepts.items() if np.ndim(v) >= 1},
            importance={kk: np.asarray(v)[ir] for kk, v in importance.items() if np.ndim(v) >= 1},
            target=target, head=head, n_concepts=k, n_sub=s, key=key,
        )
        _score_batch(ctx, b, sources, (part_map[tr], truth.present[tr], recipes[label]), ok,
                     cfg, tally)
        bar.update(len(idx))
    bar.close()
    return tally


def _score_batch(ctx: Context, b: int, sources, truth_batch, ok, cfg: Recovery,
                 tally: _Tally) -> None:
    """Score every source on batch ``b`` against its ``(part maps, present parts, recipes)``;
    importance only where ``ok`` (the explained class is the true one); add to ``tally``."""
    from jaxconcepts.evaluation.clustering._recovery import score_maps

    part_map, present, recipes = truth_batch
    for name, fn, sd in sources:
        # seed sd of a random source: fold_in(fold_in(key(seed), sd), batch)
        bkey = jax.random.fold_in(jax.random.fold_in(ctx.key, sd or 0), b)
        sb = fn(ctx._replace(key=bkey))
        sc = score_maps(
            sb.maps, sb.valid, part_map, present, recipes,
            sb.importance, tolerance=int(cfg.tolerance),
            iou_threshold=float(cfg.iou_threshold), found_iou=float(cfg.found_iou),
            pixel_aurocs=not sd,  # a table row (not an extra baseline seed)
        )
        sc = sc._replace(
            imp_auroc=np.where(ok, np.asarray(sc.imp_auroc), np.nan),
            imp_spearman=np.where(ok, np.asarray(sc.imp_spearman), np.nan),
            category=np.where(ok[:, None], np.asarray(sc.category), -1),
        )
        tally.imp_auroc[(name, sd)].append(np.asarray(sc.imp_auroc))
        tally.per_image[(name, sd)].append(per_image_scores(sc))
        if not sd:
            tally.collected[name].append(sc)
            tally.size_auroc[name].append(size_auroc(sb.sizes, sc.category))


def _summaries(tally: _Tally, sizes: dict, truth, cfg: Recovery) -> tuple[dict, dict]:
    """``({source: summary}, {source: per_part})`` of each table row's scores."""
    from jaxconcepts.evaluation.clustering._recovery import summarise

    summaries, per_part = {}, {}
    for name, parts in tally.collected.items():
        cat = type(parts[0])(*(np.concatenate([np.asarray(getattr(p, f)) for p in parts])
                               for f in parts[0]._fields))
        summ = summarise(cat, truth.part_names, found_fraction=float(cfg.found_fraction))
        per_part[name] = summ.pop("per_part")
        summ["n_target_not_label"] = tally.n_mismatch
        summ["importance"]["size_auroc"] = finite_mean(sizes[name])
        summaries[name] = summ
    return summaries, per_part


def _baselines(tally: _Tally, sizes: dict, pairs: dict, n_seeds: int, *, seed: int) -> dict:
    """Each method source against its random baseline over the seeds: the paired importance
    AUROC, the size-only references and the claims' intervals."""
    from jaxconcepts.evaluation.clustering._baseline import paired_baseline

    aur = {key_: np.concatenate(v) for key_, v in tally.imp_auroc.items()}
    baseline = {}
    for src, base in pairs.items():
        own = aur[(src, None)]
        d = paired_baseline(own, [aur[(base, sd)] for sd in range(n_seeds)])
        d["baseline"] = base
        d["size_auroc_method"] = finite_mean(np.where(np.isfinite(own), sizes[src], np.nan))
        d["size_auroc_baseline"] = finite_mean(sizes[base])
        d["n_images"] = int(own.size)
        baseline[src] = d
    imgs = {key_: {f: np.concatenate([p[f] for p in v]) for f in v[0]}
            for key_, v in tally.per_image.items()}
    for src, base in pairs.items():
        seeds = [imgs[(base, sd)] for sd in range(n_seeds)]
        baseline[src]["claims"] = claim_intervals(imgs[(src, None)], seeds, seed=seed)
    return baseline


#: per-image scores that carry a claim "the method beats a random grouping of the same sizes"
CLAIM_FIELDS = ("pointing", "iou", "top_defining")


def per_image_scores(sc) -> dict[str, np.ndarray]:
    """Per-image values of one batch's :class:`RecoveryScores`: ``pointing`` / ``iou`` (mean over
    the image's present parts of the best concept's hit / IoU) and ``top_defining`` (1 when the
    concept of highest importance is a *defining* one, 0 when it is another, NaN when the image
    has no scored concept or its explained class is not the true one)."""
    pres = np.asarray(sc.present)
    n = np.maximum(pres.sum(1), 1)
    out = {
        "pointing": np.where(pres.any(1), (np.asarray(sc.hit) * pres).sum(1) / n, np.nan),
        "iou": np.where(pres.any(1), (np.asarray(sc.iou) * pres).sum(1) / n, np.nan),
    }
    cat, imp = np.asarray(sc.category), np.asarray(sc.importance, np.float64)
    scored = cat >= 0
    top = np.argmax(np.where(scored, imp, -np.inf), axis=1)
    top_cat = np.take_along_axis(cat, top[:, None], 1)[:, 0]
    out["top_defining"] = np.where(scored.any(1), (top_cat == 0).astype(np.float64), np.nan)
    return out


def claim_intervals(method: dict, baselines: list[dict], *, seed: int) -> dict:
    """For each of :data:`CLAIM_FIELDS`: the method's mean with its 95 % bootstrap interval over
    images, the baseline's (per image, the mean over its seeds) and the paired difference with its
    interval and verdict (:func:`~jaxconcepts.evaluation._intervals.paired_difference`)."""
    from jaxconcepts.evaluation._intervals import bootstrap_mean, paired_difference

    out = {}
    for f in CLAIM_FIELDS:
        stack = np.stack([b[f] for b in baselines])
        n_def = np.isfinite(stack).sum(0)
        base = np.where(n_def > 0, np.nansum(stack, 0) / np.maximum(n_def, 1), np.nan)
        out[f] = {
            "method": bootstrap_mean(method[f], seed=seed),
            "baseline": bootstrap_mean(base, seed=seed),
            "difference": paired_difference(method[f], base, seed=seed),
        }
    return out
