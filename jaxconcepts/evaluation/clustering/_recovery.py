"""Recovery scores: do concepts find the planted parts, and does importance follow the recipe?

Scored per image, for any method that gives each image G candidate **concept maps** (low-resolution
(G, h, w) maps — CGAP/CPHA concepts: the sum of the concept's channels, §3.4 of Lambert et al.;
sub-concepts; later C2MF codes — plus a validity mask and optionally an importance per concept),
against the planted ground truth: a part map (H, W) (part id per pixel, -1 background), and the
parts ``present`` and ``defining`` the class.

Maps are upsampled bilinearly to (H, W) and min-max normalised per concept (§3.4); a constant map
normalises to 0 everywhere. Then, per present part p (best match over the valid concepts):

- **pointing game** ``hit[p]``: the argmax pixel of some concept's map lies on part p, with a
  tolerance of ``tolerance`` pixels (part mask dilated by a (2t+1)² square; Zhang et al. 2016 use
  15 px at 224 px). Ties in the argmax go to the first pixel in raster order.
- **best-match IoU** ``iou[p] = max_k IoU(map_k >= iou_threshold, mask_p)`` (threshold 0.5 of the
  normalised map by default).
- **best-match AUROC** ``auroc[p] = max_k AUROC(map_k pixels; mask_p positives, others
  negatives)``, rank-based with average ranks for ties (a constant map scores 0.5).
- **found** ``found[p] = iou[p] >= found_iou``.

Per concept k: ``category[k]`` = 0 if its argmax lies on (the dilated mask of) a defining part,
1 on a distractor, 2 on background, -1 for an invalid concept; ``defining_mass[k]`` = share of
its normalised map's mass on defining parts. Importance vs recipe, per image over valid concepts:

- ``imp_auroc``: AUROC of importance separating category-0 concepts from the others (pairs
  (defining, other), ties 1/2), NaN when one side is empty;
- ``imp_spearman``: Spearman correlation of importance with ``defining_mass`` (NaN with fewer than
  3 valid concepts or a constant side).

Every kernel is written for one image and vmapped. Aggregation over images is
:func:`summarise`. **Extension point**: anything that yields per-image concept maps (e.g. C2MF codes
``U`` reshaped to (G, h, w), with gate-derived validity) is scored by :func:`score_maps` unchanged;
class-level scores (dictionary atoms vs parts, gates vs recipes) belong in new functions that
take the per-image outputs of :func:`score_maps` (``category``, ``defining_mass``) as evidence.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxconcepts._checks import safe_div
from jaxconcepts.concepts._maps import group_maps, upsample_maps

__all__ = [
    "RecoveryScores",
    "finite_mean",
    "upsample_maps",
    "group_maps",
    "score_maps",
    "summarise",
    "random_grouping",
    "auroc_pixels",
    "pixel_auroc",
]


class RecoveryScores(NamedTuple):
    """Per-image recovery scores (B images, P parts, G concepts).

    hit, iou, auroc, found: (B, P), defined only where ``present`` (0 elsewhere).
    present, defining: (B, P) bool (copied from the truth for aggregation).
    category: (B, G) int32 in {-1, 0, 1, 2}; defining_mass: (B, G) float32.
    imp_auroc, imp_spearman: (B,) float32, NaN where undefined (see module docstring).
    importance: (B, G) float32 (NaN-free copy of the input, 0 when none was given).
    """

    hit: jax.Array
    iou: jax.Array
    auroc: jax.Array
    found: jax.Array
    present: jax.Array
    defining: jax.Array
    category: jax.Array
    defining_mass: jax.Array
    imp_auroc: jax.Array
    imp_spearman: jax.Array
    importance: jax.Array


def _avg_ranks(x):
    """1-based average ranks of a flat array (ties share the mean of their ranks)."""
    s = jnp.sort(x)
    left = jnp.searchsorted(s, x, side="left")
    right = jnp.searchsorted(s, x, side="right")
    return (left + right + 1) / 2.0


@jax.jit
def auroc_pixels(scores, positive):
    """AUROC of ``scores`` (H, W) for ``positive`` (..., H, W) bool masks (Mann-Whitney U).

    Returns (...,) float32; NaN where a mask has no positive or no negative pixel.
    """
    r = _avg_ranks(scores.reshape(-1))
    pos = positive.reshape(*positive.shape[:-2], -1)
    n_pos = pos.sum(-1).astype(jnp.float32)
    n_neg = pos.shape[-1] - n_pos
    u = (pos * r).sum(-1) - n_pos * (n_pos + 1) / 2.0
    ok = (n_pos > 0) & (n_neg > 0)
    return jnp.where(ok, u / jnp.where(ok, n_pos * n_neg, 1.0), jnp.nan)


def _dilate(masks, t: int):
    if t <= 0:
        return masks
    return jax.lax.reduce_window(
        masks, False, jax.lax.bitwise_or, (1, 2 * t + 1, 2 * t + 1), (1, 1, 1), "SAME"
    )


def _pair_auroc(x, pos, neg):
    """AUROC of x separating ``pos`` items from ``neg`` items (both (G,) bool)."""
    gt = (x[:, None] > x[None, :]).astype(jnp.float32) + 0.5 * (x[:, None] == x[None, :])
    w = pos[:, None] & neg[None, :]
    n = w.sum()
    return jnp.where(n > 0, (gt * w).sum() / jnp.where(n > 0, n, 1), jnp.nan)


def _masked_ranks(x, valid):
    gt = (x[None, :] < x[:, None]) & valid[None, :]
    eq = (x[None, :] == x[:, None]) & valid[None, :]
    return gt.sum(1) + 0.5 * (eq.sum(1) - 1) + 1.0


def _spearman(x, y, valid):
    rx, ry = _masked_ranks(x, valid), _masked_ranks(y, valid)
    n = valid.sum()
    m = valid.astype(jnp.float32)
    mx = (rx * m).sum() / jnp.maximum(n, 1)
    my = (ry * m).sum() / jnp.maximum(n, 1)
    dx, dy = (rx - mx) * m, (ry - my) * m
    den = jnp.sqrt((dx * dx).sum() * (dy * dy).sum())
    return jnp.where((n >= 3) & (den > 0), (dx * dy).sum() / jnp.where(den > 0, den, 1.0), jnp.nan)


def _score_one(maps, valid, part_map, present, defining, importance, *, tolerance, iou_threshold,
               found_iou):
    g, hh, ww = maps.shape
    n_parts = present.shape[0]
    masks = part_map[None] == jnp.arange(n_parts, dtype=part_map.dtype)[:, None, None]  # (P, H, W)
    dil = _dilate(masks, tolerance)
    # pointing game
    am = jnp.argmax(maps.reshape(g, -1), axis=1)  # (G,)
    on = dil.reshape(n_parts, -1)[:, am]  # (P, G): concept k's argmax lies on part p
    hit = (on & valid[None, :]).any(1) & present
    # best-match IoU at a fixed threshold
    binm = maps >= iou_threshold  # (G, H, W)
    inter = jnp.einsum("ghw,phw->pg", binm.astype(jnp.float32), masks.astype(jnp.float32))
    area_m = binm.sum((-2, -1)).astype(jnp.float32)
    area_p = masks.sum((-2, -1)).astype(jnp.float32)
    union = area_p[:, None] + area_m[None, :] - inter
    iou_pg = safe_div(inter, union)
    iou = jnp.where(present, jnp.where(valid[None, :], iou_pg, 0.0).max(1), 0.0)
    # best-match AUROC: on the host (pixel_auroc, numpy's sort), filled in by score_maps
    auroc = jnp.zeros(present.shape, jnp.float32)
    found = present & (iou >= found_iou)
    # concept categories and mass on defining parts
    distract = present & ~defining
    on_def = (on & (present & defining)[:, None]).any(0)
    on_dis = (on & distract[:, None]).any(0)
    category = jnp.where(on_def, 0, jnp.where(on_dis, 1, 2))
    category = jnp.where(valid, category, -1).astype(jnp.int32)
    def_mask = (masks & (present & defining)[:, None, None]).any(0)
    total = maps.sum((-2, -1))
    on_def_mass = (maps * def_mask).sum((-2, -1))
    mass = safe_div(on_def_mass, total)
    imp = jnp.nan_to_num(importance)
    imp_auroc = _pair_auroc(imp, valid & (category == 0), valid & (category != 0))
    imp_spearman = _spearman(imp, mass, valid)
    return RecoveryScores(hit, iou, auroc, found, present, present & defining, category, mass,
                          imp_auroc, imp_spearman, imp)


@partial(jax.jit, static_argnames=("size", "tolerance", "iou_threshold", "found_iou"))
def _score_batch(maps, valid, part_map, present, defining, importance, *, size, tolerance,
                 iou_threshold, found_iou):
    up = upsample_maps(maps, size=size)
    fn = partial(_score_one, tolerance=tolerance, iou_threshold=iou_threshold, found_iou=found_iou)
    return jax.vmap(fn)(up, valid, part_map, present, defining, importance), up


def pixel_auroc(maps, part_map, n_parts: int) -> np.ndarray:
    """:func:`auroc_pixels` for every (image, concept, part) at once, on the host: (B, G, P).

    ``maps`` (B, G, H, W) float, ``part_map`` (B, H, W) int (part id, -1 background). The same
    Mann-Whitney U with average ranks as :func:`auroc_pixels` (NaN where a part has no pixel or
    covers the image), ranked by one numpy sort of packed keys (row, value, pixel) instead of
    XLA's CPU sort, which is ~40x slower on these sizes.
    """
    maps = np.ascontiguousarray(maps, np.float32) + np.float32(0.0)  # -0.0 ties +0.0
    b, g, h, w = maps.shape
    n = h * w
    pix_bits = max(int(n - 1).bit_length(), 1)
    row_bits = 64 - 32 - pix_bits
    if row_bits < 1:
        raise ValueError(f"pixel_auroc: maps of {h}x{w} pixels are too large to rank")
    bits = maps.reshape(b * g, n).view(np.uint32)
    # IEEE floats as unsigned keys in the same order: flip negatives, set the sign of positives
    order_key = np.where(bits >> 31, ~bits, bits | np.uint32(1 << 31)).astype(np.uint64)
    ranks = np.empty((b * g, n), np.float64)
    chunk = 1 << row_bits
    for r0 in range(0, b * g, chunk):
        ok = order_key[r0:r0 + chunk]
        rows = np.arange(ok.shape[0], dtype=np.uint64)[:, None]
        keys = (rows << np.uint64(32 + pix_bits)) | (ok << np.uint64(pix_bits)) \
            | np.arange(n, dtype=np.uint64)[None, :]
        s = np.sort(keys.ravel())
        rv = s >> np.uint64(pix_bits)  # (row, value): equal neighbours are ties
        m = s.size
        new = np.ones(m, bool)
        new[1:] = rv[1:] != rv[:-1]
        last = np.ones(m, bool)
        last[:-1] = new[1:]
        idx = np.arange(m)
        start = np.maximum.accumulate(np.where(new, idx, 0))
        end = np.minimum.accumulate(np.where(last, idx, m)[::-1])[::-1]
        avg = (start + end) / 2.0 - (idx // n) * n + 1.0  # 1-based average rank in its row
        flat = (idx // n) * n + (s & np.uint64((1 << pix_bits) - 1)).astype(np.int64)
        out = np.empty(m, np.float64)
        out[flat] = avg
        ranks[r0:r0 + ok.shape[0]] = out.reshape(-1, n)
    pm = np.asarray(part_map).reshape(b, n)
    pos = (pm[:, None, :] == np.arange(n_parts)[None, :, None]).astype(np.float64)  # (B, P, N)
    n_pos = pos.sum(-1)  # (B, P)
    u = np.einsum("bgn,bpn->bgp", ranks.reshape(b, g, n), pos) \
        - (n_pos * (n_pos + 1) / 2.0)[:, None, :]
    denom = n_pos * (n - n_pos)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((denom > 0)[:, None, :], u / np.where(denom > 0, denom, 1.0)[:, None, :],
                        np.nan)


def score_maps(
    maps,
    valid,
    part_map,
    present,
    defining,
    importance=None,
    *,
    tolerance: int = 4,
    iou_threshold: float = 0.5,
    found_iou: float = 0.3,
    pixel_aurocs: bool = True,
) -> RecoveryScores:
    """Score a batch of concept maps against planted part masks (see module docstring).

    Args:
      maps: float (B, G, h, w) low-resolution concept maps (non-negative sums of channels, or any
        per-concept spatial evidence); upsampled to the part map's (H, W) here.
      valid: bool (B, G), False for empty / padded concepts (never matched).
      part_map: int (B, H, W), part id per pixel, -1 background.
      present: bool (B, P) parts drawn in each image.
      defining: bool (B, P) parts of the recipe of the class being explained.
      importance: float (B, G) occlusion importance per concept, or None (importance scores NaN).
      tolerance: pointing-game tolerance in pixels (>= 0).
      iou_threshold: threshold on the normalised map for IoU, in (0, 1].
      found_iou: a part is *found* when its best-match IoU reaches this, in (0, 1].
      pixel_aurocs: False skips the best-match AUROC (``auroc`` is then NaN): the costliest
        score, not needed for the extra seeds of a baseline.

    Returns:
      :class:`RecoveryScores`.

    Raises:
      ValueError: shapes disagree or a hyperparameter is out of range. TypeError: bad dtypes.
    """
    m, v, pm = np.shape(maps), np.shape(valid), np.shape(part_map)
    if len(m) != 4:
        raise ValueError(f"maps should have shape (B, G, h, w), got {m}")
    if v != m[:2]:
        raise ValueError(f"valid should have shape (B, G)={m[:2]}, got {v}")
    if len(pm) != 3 or pm[0] != m[0]:
        raise ValueError(f"part_map should have shape (B={m[0]}, H, W), got {pm}")
    if not np.issubdtype(np.asarray(part_map).dtype, np.integer):
        raise TypeError(f"part_map should be integer, got dtype {np.asarray(part_map).dtype}")
    for name, x in (("present", present), ("defining", defining)):
        s = np.shape(x)
        if len(s) != 2 or s[0] != m[0]:
            raise ValueError(f"{name} should have shape (B={m[0]}, P), got {s}")
    if np.shape(present) != np.shape(defining):
        raise ValueError(f"present {np.shape(present)} and defining {np.shape(defining)} differ")
    n_parts = np.shape(present)[1]
    pmax = int(np.max(np.asarray(part_map), initial=-1))
    if pmax >= n_parts or int(np.min(np.asarray(part_map), initial=-1)) < -1:
        raise ValueError(f"part_map values should lie in [-1, P={n_parts}), max is {pmax}")
    if importance is not None and np.shape(importance) != m[:2]:
        raise ValueError(f"importance should have shape (B, G)={m[:2]}, got {np.shape(importance)}")
    if not (isinstance(tolerance, int) and tolerance >= 0):
        raise ValueError(f"tolerance={tolerance!r} should be an int >= 0")
    for name, t in (("iou_threshold", iou_threshold), ("found_iou", found_iou)):
        if not 0.0 < float(t) <= 1.0:
            raise ValueError(f"{name}={t!r} should be in (0, 1]")
    imp = (jnp.full(m[:2], jnp.nan, jnp.float32) if importance is None
           else jnp.asarray(importance, jnp.float32))
    out, up = _score_batch(
        jnp.asarray(maps, jnp.float32), jnp.asarray(valid, bool), jnp.asarray(part_map, jnp.int32),
        jnp.asarray(present, bool), jnp.asarray(defining, bool), imp,
        size=tuple(pm[1:]), tolerance=int(tolerance), iou_threshold=float(iou_threshold),
        found_iou=float(found_iou),
    )
    if pixel_aurocs:
        au_gp = pixel_auroc(np.asarray(up), part_map, n_parts)  # (B, G, P)
        au = np.where(np.asarray(valid)[:, :, None], np.nan_to_num(au_gp, nan=0.0), 0.0).max(1)
        au = np.where(np.asarray(present), au, 0.0)
    else:
        au = np.full(np.shape(present), np.nan)
    out = out._replace(auroc=jnp.asarray(au, jnp.float32))
    if importance is None:
        nan = jnp.full((m[0],), jnp.nan, jnp.float32)
        out = out._replace(imp_auroc=nan, imp_spearman=nan, importance=jnp.zeros(m[:2]))
    return out


def finite_mean(x) -> float | None:
    """The mean of the finite values of ``x`` (None when there is none)."""
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else None


def summarise(scores: RecoveryScores, part_names: list[str] | None = None,
              *, found_fraction: float = 0.5) -> dict:
    """Aggregate per-image scores over images (means over present parts).

    Returns a JSON-ready dict: ``pointing``, ``iou``, ``auroc``, ``found_rate`` (means over all
    (image, present part) pairs), ``parts_found`` (number of part types found in at least
    ``found_fraction`` of the images where they are present) out of ``parts_present``,
    ``per_part`` (the same per part name), ``importance`` (mean ``imp_auroc``/``imp_spearman`` over
    images where defined, their counts, and mean importance by concept category). None where
    nothing is defined (JSON has no NaN).
    """
    s = {k: np.asarray(v) for k, v in scores._asdict().items()}
    pres = s["present"]
    n_parts = pres.shape[1]
    names = part_names or [f"part{p}" for p in range(n_parts)]
    out: dict = {}
    fields = (("hit", "pointing"), ("iou", "iou"), ("auroc", "auroc"), ("found", "found_rate"))
    for key, name in fields:
        out[name] = float(s[key][pres].mean()) if pres.any() else None
    per_part, n_found, n_seen = {}, 0, 0
    for p in range(n_parts):
        col = pres[:, p]
        if not col.any():
            continue
        n_seen += 1
        fr = float(s["found"][col, p].mean())
        n_found += fr >= found_fraction
        per_part[names[p]] = {
            "n_images": int(col.sum()),
            "pointing": float(s["hit"][col, p].mean()),
            "iou": float(s["iou"][col, p].mean()),
            "auroc": float(s["auroc"][col, p].mean()),
            "found_rate": fr,
        }
    out["parts_found"] = int(n_found)
    out["parts_present"] = int(n_seen)
    out["per_part"] = per_part
    cat, imp = s["category"], s["importance"]
    by_cat = {}
    for c, name in ((0, "defining"), (1, "distractor"), (2, "background")):
        sel = cat == c
        by_cat[name] = {"n_concepts": int(sel.sum()), "mean_importance": finite_mean(imp[sel])}
    out["importance"] = {
        "auroc": finite_mean(s["imp_auroc"]),
        "n_images_auroc": int(np.isfinite(s["imp_auroc"]).sum()),
        "spearman": finite_mean(s["imp_spearman"]),
        "n_images_spearman": int(np.isfinite(s["imp_spearman"]).sum()),
        "by_category": by_cat,
    }
    out["n_images"] = int(pres.shape[0])
    return out


def _regroup_one(lab, k):
    live = lab >= 0
    c = lab.shape[0]
    order = jnp.arange(c)
    src = jnp.argsort(jnp.where(live, jax.random.uniform(k, (c,)), 2.0))  # live channels, shuffled
    dst = jnp.argsort(jnp.where(live, order, c + order))  # live channels, in order
    return lab.at[dst].set(lab[src])


@jax.jit
def _regroup(labels, keys):
    return jax.vmap(_regroup_one)(labels, keys)


def random_grouping(labels, *, key):
    """Shuffle labels among each image's live channels (same concept sizes): (B, C) → (B, C).

    Channels with label -1 stay -1; the multiset of labels over live channels is kept, so every
    concept keeps its number of channels but gets random ones — the trivial baseline.
    """
    labels = jnp.asarray(labels, jnp.int32)
    if labels.ndim != 2:
        raise ValueError(f"labels should have shape (B, C), got {labels.shape}")
    return _regroup(labels, jax.random.split(key, labels.shape[0]))
