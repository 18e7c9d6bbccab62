"""A toy dataset for the explorer: a store with odd image names (spaces, unicode, ``#``, ``?``),
one missing and one corrupt picture, CGAP / CPHA concepts with importance, a C2MF-like shared
atlas and a CRAFT-like per-class atlas, a linear head and crops' confidence."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jaxconcepts.explorer import DictionaryCodes, ExplorerInputs
from jaxconcepts.store import ActivationStore, HeadParams, StoreWriter

C, H, W, K, S, Y, NOUT, KD = 12, 4, 4, 3, 2, 3, 5, 4
N = 12
NAMES = ["a cat.png", "café ☕.png", "no#1.png", "why?.png", "plain.png", "missing.png",
         "corrupt.png"] + [f"img {i}.png" for i in range(7, N)]
OUTPUTS = ["tabby", "espresso", "rocket", "tripod", "pagoda"]


def _concepts(rng):
    lab = rng.integers(0, K, size=(N, C)).astype(np.int32)
    lab[:, -1] = -1  # a dead channel
    sub = np.where(lab >= 0, rng.integers(0, S, size=(N, C)), -1).astype(np.int32)
    arrays = {"index": np.arange(N, dtype=np.int32)}
    imp = {"index": np.arange(N, dtype=np.int32)}
    for m in ("cgap", "cpha"):
        arrays[f"{m}_labels"], arrays[f"{m}_sub_labels"] = lab.copy(), sub.copy()
        imp[f"{m}_importance"] = rng.uniform(-5, 80, size=(N, K)).astype(np.float32)
        imp[f"{m}_sub_importance"] = rng.uniform(-5, 50, size=(N, K, S)).astype(np.float32)
    return arrays, imp


def _atlases(rng, head_w, pred):
    """C2MF-like (shared, KD concepts) and CRAFT-like (Y·KD per-class concepts) atlases of every
    image; concept 0 of C2MF on image 0 points along the predicted output's head row, with a
    large code, so that removing it changes the prediction."""
    y = np.arange(N) % Y
    codes = rng.uniform(0, 0.2, size=(N, KD, H, W)).astype(np.float32)
    codes[0, 0] = 3.0
    codes[0, 1] = 0.0  # a concept image 0 does not use: removing it changes nothing
    W_c2mf = rng.normal(size=(KD, C)).astype(np.float32)
    W_c2mf[0] = head_w[pred[0]] / np.linalg.norm(head_w[pred[0]])
    gates = rng.uniform(0, 1, size=(Y, KD)).astype(np.float32)
    words = [[[OUTPUTS[(j + t) % NOUT], 0.5 - 0.1 * t] for t in range(3)] for j in range(KD)]
    classes = ["cats", "cups", "rockets"]
    c2mf = DictionaryCodes("c2mf", KD, True, np.arange(N), y, codes, gates,
                           [f"C{j}" for j in range(KD)], words, list(range(KD)), classes, True)
    own = rng.uniform(0, 1, size=(N, KD, H, W)).astype(np.float32)
    usage = np.kron(np.eye(Y), np.ones((1, KD))).astype(np.float32)
    cnames = [[[OUTPUTS[j % NOUT], 0.3]] for j in range(Y * KD)]
    craft = DictionaryCodes("craft", KD, False, np.arange(N), y, own, usage,
                            [f"{c}/{j}" for c in classes for j in range(KD)], cnames,
                            list(range(Y * KD)), classes, True)
    dictionaries = {f"c2mf_k{KD}_W": W_c2mf, f"c2mf_k{KD}_gates": gates,
                    f"craft_k{KD}_W": rng.uniform(0, 1, size=(Y, KD, C)).astype(np.float32)}
    return [c2mf, craft], dictionaries


def make_toy(root, *, seed: int = 0, with_dictionaries: bool = True) -> ExplorerInputs:
    """Write the toy store under ``root`` and return the explorer's inputs."""
    rng = np.random.default_rng(seed)
    img_dir = root / "images"
    img_dir.mkdir(parents=True)
    a = np.maximum(rng.normal(size=(N, C, H, W)), 0).astype(np.float32)
    head = HeadParams(rng.normal(size=(NOUT, C)).astype(np.float32),
                      rng.normal(size=NOUT).astype(np.float32))
    logits = a.mean((2, 3)) @ np.asarray(head.weight).T + np.asarray(head.bias)
    pred = logits.argmax(1).astype(np.int32)
    p = np.exp(logits - logits.max(1, keepdims=True))
    prob = (p / p.sum(1, keepdims=True))[np.arange(N), pred].astype(np.float32)
    images = []
    for i, name in enumerate(NAMES):
        path = img_dir / name
        if name == "corrupt.png":
            path.write_bytes(b"not a png")
        elif name != "missing.png":
            Image.fromarray(rng.integers(0, 255, size=(30, 40, 3), dtype=np.uint8)).save(path)
        images.append({"index": i, "path": name, "sha256": "x", "label": i % Y,
                       "label_name": ["cats", "cups", "rockets"][i % Y]})
    with StoreWriter(root / "activations", shard_size=5) as wr:
        wr.add(activations=a, logits=logits.astype(np.float32), target=pred,
               label=np.arange(N) % Y, pred=pred, prob=prob, index=np.arange(N))
        wr.finish({"model": "toy", "weights": {"source": "random"}, "format": 2,
                   "preprocessing": {"input_size": [3, 32, 32], "crop_pct": 1.0,
                                     "interpolation": "bilinear"},
                   "image_size": 32, "layer": "forward_features", "shape": [C, H, W],
                   "images": images, "skipped": [],
                   "head": {"kind": "gap_linear", "num_classes": NOUT},
                   "class_names": ["cats", "cups", "rockets"]}, head=head)
    store = ActivationStore(root / "activations", image_root=img_dir)
    concepts, importance = _concepts(rng)
    inp = ExplorerInputs(dataset="toy", store=store, concepts=concepts, importance=importance,
                         n_concepts=K, n_sub=S, gate_threshold=0.5,
                         crop_msp=rng.uniform(0, 1, size=(N, 2)).astype(np.float32),
                         crop_pred=rng.integers(0, NOUT, size=(N, 2)).astype(np.int32),
                         output_names=OUTPUTS, output_lemmas=[f"{o}, {o}s" for o in OUTPUTS])
    if with_dictionaries:
        inp.atlases, inp.dictionaries = _atlases(rng, np.asarray(head.weight), pred)
        inp.reconstruction = {"c2mf": {"acc_pred_per_class": {"0": 0.5, "1": 1.0, "2": 0.25}}}
    else:
        inp.notes = {"dictionaries": "c2mf.enabled is false for this dataset"}
    return inp


@pytest.fixture
def toy(tmp_path):
    return make_toy(tmp_path / "toy")
