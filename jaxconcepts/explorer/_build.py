"""Build the concept explorer of one dataset from what the stages computed.

:func:`build_explorer` streams the activation store once, batch by batch: for each image it draws
nothing, but writes the numbers the page draws from (:mod:`._payload`): CGAP / CPHA concept and
sub-concept maps on the feature grid with their importance (Eq. 3), the dictionary methods' code
maps and mean codes for the images their atlas coded, the logits (top-5 and, for suppression, the
whole vector), and the crops' confidence (the OOD study per image). Pictures are made in a process
pool meanwhile. Memory: one store batch, one chunk, the atlases.

Anything not computed for the dataset (a stage turned off, a head that is not GAP + linear) is a
``{"computed": false, "note": why}`` entry that the page shows in place of the view.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxconcepts.explorer._payload import (
    b64, code_maps_u8, concept_logits, grid_maps, nearest_concepts, rounded, softmax, top_k,
)
from jaxconcepts.explorer._write import ExplorerWriter, picture_pool

__all__ = ["DictionaryCodes", "ExplorerInputs", "build_explorer", "dictionary_codes",
           "dictionary_payload"]

CLUSTERING = ("cgap", "cpha")
FIRST_PAGE = 48  # thumbnails on the first page of the image grid (explorer.js: ``per``)
TITLES = {"cgap": "CGAP", "cpha": "CPHA", "c2mf": "C2MF", "craft": "CRAFT", "pca": "PCA",
          "topk": "TopK SAE", "batchtopk": "BatchTopK SAE", "jumprelu": "JumpReLU SAE",
          "matryoshka": "Matryoshka SAE", "archetypal": "Archetypal SAE"}
SUPPRESS_HOW = ("computed in the page from the stored codes and the head: with h = GAP + linear, "
                "removing concept j (a_p − u_pj w_j at every position p) changes the logits by "
                "exactly −ū_j (w_j Hᵀ), ū_j the image's mean code; the page adds that to the "
                "stored logits and takes the softmax")


@dataclasses.dataclass
class ExplorerInputs:
    """Everything the explorer of one dataset reads (the ``explore`` stage fills it from disk).

    concepts / importance: the parts' arrays (``index``-aligned; None when the stage is off);
    n_concepts, n_sub: K and S. atlases: :class:`DictionaryCodes` of each method
    (:func:`dictionary_codes` reads the ``c2mf`` stage's atlas file);
    dictionaries: its ``dictionaries.safetensors`` arrays; reconstruction: per method the
    per-class reconstruction accuracy (``{"label": {cls: acc}, "pred": {...}}``).
    crop_msp / crop_pred: (N, n_crops) in store order, or None. notes: why a view is missing.
    """

    dataset: str
    store: Any
    concepts: Mapping[str, np.ndarray] | None = None
    importance: Mapping[str, np.ndarray] | None = None
    n_concepts: int = 0
    n_sub: int = 0
    atlases: Sequence[Any] = ()
    dictionaries: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    reconstruction: Mapping[str, Mapping] = dataclasses.field(default_factory=dict)
    gate_threshold: float = 0.5
    crop_msp: np.ndarray | None = None
    crop_pred: np.ndarray | None = None
    output_names: Sequence[str] = ()
    output_lemmas: Sequence[str] = ()
    notes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    title: str = ""


def _methods_meta(inp: ExplorerInputs) -> dict:
    out = {}
    for m in CLUSTERING:
        ok = (inp.concepts is not None and inp.importance is not None
              and f"{m}_labels" in inp.concepts and f"{m}_importance" in inp.importance)
        out[m] = ({"computed": True, "title": TITLES[m], "n_concepts": inp.n_concepts,
                   "n_sub": inp.n_sub} if ok else
                  {"computed": False, "title": TITLES[m], "note": inp.notes.get(
                      "clustering", f"{TITLES[m]} is not in the concepts / importance files")})
    return out


def _weights(dictionaries: Mapping[str, np.ndarray], method: str, k: int) -> np.ndarray | None:
    W = dictionaries.get(f"{method}_k{k}_W")
    return None if W is None else np.asarray(W, np.float32).reshape(-1, W.shape[-1])


class DictionaryCodes(NamedTuple):
    """One dictionary method's concepts and the codes of the images it coded.

    method, k, shared (C2MF: one dictionary, G = k; CRAFT / PCA: one per class, G = Y·k, concept
    ``y·k + j`` is class y's j-th); images (N,) store rows; y (N,) fitted class; codes
    (N, k, h, w) each image's own codes (C2MF gated; CRAFT / PCA: its class's k concepts);
    usage (Y, G); labels (G,); names: per concept ``[[word, p], ...]``; order; class_names (Y,);
    every: True when every fitted image is coded (else the atlas' sample)."""

    method: str
    k: int
    shared: bool
    images: np.ndarray
    y: np.ndarray
    codes: np.ndarray
    usage: np.ndarray
    labels: list
    names: list
    order: list
    class_names: list
    every: bool

    @property
    def g0(self) -> np.ndarray:
        """(N,) the first concept id of each image's own codes."""
        return np.zeros_like(self.y) if self.shared else self.y * self.k


def dictionary_codes(path) -> list[DictionaryCodes]:
    """The ``c2mf`` stage's ``atlas.safetensors`` as :class:`DictionaryCodes` (every fitted
    image's codes when the file has them, else the atlas' sample)."""
    from jaxconcepts._io import load_arrays
    from jaxconcepts._safetensors import metadata

    meta = json.loads(metadata(path).get("atlas", "{}"))
    a = load_arrays(path) if meta else {}
    out = []
    for m, d in sorted(meta.items()):
        every = f"{m}_all_codes" in a
        pre = f"{m}_all_" if every else f"{m}_"
        out.append(DictionaryCodes(
            m, int(d["k"]), bool(d["shared"]), a[pre + "images"], a[pre + "y"],
            np.asarray(a[pre + "codes"], np.float32), a[f"{m}_usage"], d["labels"],
            [n["words"] for n in d["names"]], d["order"], d["class_names"], every))
    return out


def _concept_importance(dc: DictionaryCodes, C: np.ndarray, logits: np.ndarray) -> list:
    """Per concept: mean Eq. 3 importance over the coded images that use it (ū_j ≠ 0), with the
    concept removed in closed form (module :mod:`._payload`), for the image's predicted class."""
    L = np.asarray(logits, np.float64)[dc.images]  # (N, n_out)
    t = L.argmax(1)
    p = softmax(L)[np.arange(len(t)), t]
    ubar = dc.codes.mean((2, 3))  # (N, k)
    out = []
    for g in range(C.shape[0]):
        j = g % dc.k
        use = (dc.g0 == g - j) & (ubar[:, j] != 0)
        if not use.any():
            out.append(None)
            continue
        Lg = L[use] - ubar[use, j, None] * C[g][None].astype(np.float64)
        pg = softmax(Lg)[np.arange(use.sum()), t[use]]
        out.append(round(float(np.mean(100.0 * (p[use] - pg) / p[use])), 3))
    return out


def _weights(dictionaries: Mapping[str, np.ndarray], method: str, k: int) -> np.ndarray | None:
    W = dictionaries.get(f"{method}_k{k}_W")
    return None if W is None else np.asarray(W, np.float32).reshape(-1, W.shape[-1])


def dictionary_payload(dc: DictionaryCodes, inp: ExplorerInputs, *,
                       logits: np.ndarray | None = None, top: int = 8, per_class: int = 4,
                       recipe: int = 5) -> tuple[dict, np.ndarray]:
    """The ``dict-<method>.js`` payload of one method: names, usage (gates), each concept's top
    images with their code maps, per-class recipes with example images, importance, nearest
    concepts of the other methods and, with a linear head, ``w_j Hᵀ`` for suppression. Image
    references are store row positions (the page's rows). Also returns the (G,) scales the
    code maps are divided by."""
    G = dc.usage.shape[1]
    signed = dc.method == "pca"
    strength = np.abs(dc.codes) if signed else np.maximum(dc.codes, 0)
    peak = strength.reshape(*strength.shape[:2], -1).max(-1)  # (N, k)
    g_of = dc.g0[:, None] + np.arange(dc.k)[None]  # (N, k) concept ids
    scale = np.zeros(G)
    np.maximum.at(scale, g_of.ravel(), peak.ravel())
    u8 = code_maps_u8(dc.codes, scale[g_of], signed=signed)

    def examples(g, sel, n):
        j = g % dc.k
        cand = np.flatnonzero(sel & (dc.g0 == g - j))
        order = cand[np.argsort(-peak[cand, j], kind="stable")][:n]
        return [[int(dc.images[i]), round(float(peak[i, j]), 4), b64(u8[i, j])]
                for i in order if peak[i, j] > 0]

    everyone = np.ones(len(dc.images), bool)
    recipes = []
    for y in range(len(dc.class_names)):
        used = [int(g) for g in np.argsort(-dc.usage[y], kind="stable")[:recipe]
                if dc.usage[y, g] >= inp.gate_threshold]
        recipes.append([[g, round(float(dc.usage[y, g]), 3), examples(g, dc.y == y, per_class)]
                        for g in used])
    head = inp.store.head
    W = _weights(inp.dictionaries, dc.method, dc.k)
    C = (concept_logits(W, np.asarray(head.weight)) if head is not None and W is not None
         and W.shape[0] == G else None)
    nearest = {}
    for other in inp.atlases:
        Wo = _weights(inp.dictionaries, other.method, other.k)
        if other.method != dc.method and W is not None and Wo is not None:
            nearest[other.method] = nearest_concepts(W, Wo)
    payload = {
        "method": dc.method, "title": TITLES.get(dc.method, dc.method), "k": int(dc.k),
        "n_concepts": int(G), "shared": bool(dc.shared), "signed": signed,
        "gated": dc.method == "c2mf",
        "labels": list(dc.labels), "order": [int(j) for j in dc.order],
        "names": [[[w, round(float(p), 4)] for w, p in n] for n in dc.names],
        "class_names": list(dc.class_names), "usage": rounded(dc.usage, 3),
        "gate_threshold": inp.gate_threshold, "scale": rounded(scale, 6),
        "top": [examples(g, everyone, top) for g in range(G)], "recipes": recipes,
        "importance": (_concept_importance(dc, C, logits) if C is not None and logits is not None
                       else None),
        "contrib": None if C is None else b64(C.astype("<f4")),
        "n_outputs": None if head is None else int(head.weight.shape[0]),
        "nearest": nearest, "reconstruction": inp.reconstruction.get(dc.method, {}),
        "n_coded": int(len(dc.images)), "every": bool(dc.every),
    }
    return payload, scale


def _code_records(dc: DictionaryCodes, scale: np.ndarray) -> dict[int, dict]:
    """Store row position -> the image's code record for one method."""
    g_of = dc.g0[:, None] + np.arange(dc.k)[None]
    u8 = code_maps_u8(dc.codes, scale[g_of], signed=dc.method == "pca")
    return {int(pos): {"y": int(dc.y[n]), "g0": int(dc.g0[n]), "maps": b64(u8[n]),
                       "mean": rounded(dc.codes[n].mean((1, 2)), 5)}
            for n, pos in enumerate(dc.images)}


def _batch_maps(inp: ExplorerInputs, methods: Mapping, A: np.ndarray, rows_c: list[int]) -> dict:
    """{method: :class:`GridMaps`} of one store batch (rows ``rows_c`` of the concepts file)."""
    c, S = inp.concepts, inp.n_sub
    out = {}
    for m, info in methods.items():
        if not info["computed"]:
            continue
        lab = c[f"{m}_labels"][rows_c]
        sub = c[f"{m}_sub_labels"][rows_c] if S and f"{m}_sub_labels" in c else None
        out[m] = grid_maps(A, lab, sub, n_concepts=inp.n_concepts,
                           n_sub=S if sub is not None else 0, size=inp_size(inp))
    return out


def _clustering_record(m, g, j: int, row_c: int, row_i: int, inp: ExplorerInputs) -> list[dict]:
    """One image's concepts of one clustering method, by decreasing importance (``g``: the batch's
    :class:`GridMaps`, ``j``: the image in it)."""
    c, imp = inp.concepts, inp.importance
    K, S = inp.n_concepts, inp.n_sub
    lab = c[f"{m}_labels"][row_c]
    sub = c.get(f"{m}_sub_labels")
    sub_of = None if sub is None or not S else sub[row_c][:, None] == np.arange(S)[None]  # (C, S)
    cnt = (lab[:, None] == np.arange(K)[None]).sum(0)
    I = imp[f"{m}_importance"][row_i]
    sub_I = imp.get(f"{m}_sub_importance")
    out = []
    for l in np.argsort(-I, kind="stable"):
        if cnt[l] == 0:
            continue
        e = {"l": int(l), "n": int(cnt[l]), "imp": round(float(I[l]), 3), "map": b64(g.maps[j, l]),
             "r": rounded(g.ranges[j, l], 4)}
        if g.sub_maps is not None:
            s_cnt = ((lab == l)[:, None] & sub_of).sum(0)
            e["subs"] = [{"s": s, "n": int(s_cnt[s]),
                          "imp": None if sub_I is None else round(float(sub_I[row_i][l, s]), 3),
                          "map": b64(g.sub_maps[j, l, s]), "r": rounded(g.sub_ranges[j, l, s], 4)}
                         for s in range(S) if s_cnt[s] > 0]
        out.append(e)
    return out


def inp_size(inp: ExplorerInputs) -> tuple[int, int]:
    """The model's input size (H, W): the paper normalises maps upsampled to it."""
    return tuple(int(x) for x in inp.store.manifest["preprocessing"]["input_size"][-2:])


def _image_table(inp: ExplorerInputs, images: list[dict]) -> dict:
    store = inp.store
    labels = [im.get("label_name") for im in images]
    classes = sorted({x for x in labels if x is not None})
    cls_of = {c: i for i, c in enumerate(classes)}
    pred, prob = store.read("pred"), store.read("prob")
    return {"index": [int(im["index"]) for im in images],
            "name": [str(im.get("rel", im["path"])) for im in images],
            "label": [cls_of.get(x, -1) for x in labels],
            "pred": [int(p) for p in pred], "conf": rounded(prob, 4)}, classes


def build_explorer(out: Path, inp: ExplorerInputs, *, chunk_size: int = 100, thumb: int = 96,
                   workers: int = 2, batch: int = 32, progress: bool = True) -> dict:
    """Write the explorer of ``inp`` into ``out`` (an existing, empty folder). Returns a summary:
    images, chunks, bytes of data, the first view's bytes, missing pictures, seconds."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    store = inp.store
    images = store.images
    table, classes = _image_table(inp, images)
    methods = _methods_meta(inp)
    atlases = list(inp.atlases)
    dicts, codes = {}, {}
    logits = store.read("logits") if atlases else None
    for dc in atlases:
        dicts[dc.method], scale = dictionary_payload(dc, inp, logits=logits)
        codes[dc.method] = _code_records(dc, scale)
    del logits
    linear = store.head is not None
    suppress = bool(atlases) and linear
    c_pos = ({int(i): r for r, i in enumerate(inp.concepts["index"])}
             if inp.concepts is not None else {})
    i_pos = ({int(i): r for r, i in enumerate(inp.importance["index"])}
             if inp.importance is not None else {})
    prep = store.manifest["preprocessing"]
    pool = picture_pool(workers, len(images))
    writer = ExplorerWriter(out, chunk_size=chunk_size, thumb=thumb, pool=pool)
    bar = tqdm(total=len(images), desc="explorer", unit="img", disable=not progress)
    row = 0
    try:
        for b in store.iter_batches(batch, fields=("activations", "index", "logits"),
                                    as_jax=False):
            idx = [int(i) for i in b["index"]]
            have = all(i in c_pos and i in i_pos for i in idx)
            maps = (_batch_maps(inp, methods, b["activations"], [c_pos[i] for i in idx])
                    if have else {})
            for j, index in enumerate(idx):
                rec = _image_record(inp, maps, codes, row, index, j, b["logits"][j], c_pos,
                                    i_pos, suppress)
                writer.add(rec, path=images[row]["path"], preprocessing=prep)
                row += 1
            bar.update(len(b["index"]))
        for m, payload in dicts.items():
            writer.write_data(f"dict-{m}", payload)
        meta = _meta(inp, table, classes, methods, dicts, suppress, linear)
        missing = writer.finish(meta)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    # the first view: the page, its scripts, meta.js and the first page of thumbnails
    thumbs = [out / "thumbs" / f"{i}.jpg" for i in table["index"][:FIRST_PAGE]]
    first = sum((out / p).stat().st_size for p in (
        "index.html", "assets/explorer.js", "assets/explorer.css", "data/meta.js")) + sum(
        t.stat().st_size for t in thumbs if t.is_file())
    return {"images": len(images), "chunks": writer.n_chunks, "data_bytes": writer.bytes_written,
            "first_view_bytes": first, "missing": missing,
            "seconds": round(time.perf_counter() - t0, 2)}


def _image_record(inp, maps, codes, row, index, j, logits, c_pos, i_pos, suppress) -> dict:
    rec: dict[str, Any] = {"i": index,
                           "top5": top_k(softmax(np.asarray(logits, np.float64)), 5)}
    rec["m"] = {m: _clustering_record(m, g, j, c_pos[index], i_pos[index], inp)
                for m, g in maps.items()}
    mine = {m: c[row] for m, c in codes.items() if row in c}
    if mine:
        rec["codes"] = mine
        if suppress:
            rec["logits"] = b64(np.asarray(logits, "<f4"))
    if inp.crop_msp is not None:
        rec["ood"] = {"crops": rounded(inp.crop_msp[row], 4),
                      "crop_pred": [int(x) for x in inp.crop_pred[row]]}
    return rec


def _meta(inp, table, classes, methods, dicts, suppress, linear) -> dict:
    store, notes = inp.store, inp.notes
    man = store.manifest
    dictionaries = {m: {"computed": True, "title": d["title"], "k": d["k"],
                        "n_concepts": d["n_concepts"], "n_coded": d["n_coded"],
                        "every": d["every"],
                        "shared": d["shared"],
                        "search": [[d["labels"][g], [w for w, _ in d["names"][g][:3]]]
                                   for g in range(d["n_concepts"])]}
                    for m, d in dicts.items()}
    if not dicts:
        dictionaries["_note"] = notes.get("dictionaries", "no dictionary method was fitted")
    if suppress:
        sup = {"computed": True, "how": SUPPRESS_HOW}
    else:
        sup = {"computed": False, "note": notes.get("suppress") or (
            "h is not GAP + linear: removing a concept has no closed form here" if not linear
            else "no dictionary method was fitted for this dataset")}
    ood = ({"computed": True, "n_crops": int(inp.crop_msp.shape[1])} if inp.crop_msp is not None
           else {"computed": False, "note": notes.get("ood", "the crops stage is off")})
    return {
        "version": 1, "dataset": inp.dataset, "title": inp.title or f"Concept explorer: "
        f"{inp.dataset}", "model": man.get("model"), "layer": man.get("layer"),
        "grid": [int(x) for x in store.shape[1:]],
        "image_size": [int(x) for x in man["preprocessing"]["input_size"][-2:]],
        "n_images": len(table["index"]), "images": table, "classes": classes,
        "outputs": list(inp.output_names), "lemmas": list(inp.output_lemmas),
        "methods": methods, "dictionaries": dictionaries, "suppress": sup, "ood": ood,
    }
