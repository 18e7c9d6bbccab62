"""A tiny synthetic dataset (images, activation store, concepts) for the importance, figures
and report stage tests; ``project`` in conftest.py builds one."""

from pathlib import Path

import numpy as np
from PIL import Image

from jaxconcepts._parts import write_part
from jaxconcepts.store import HeadParams, StoreWriter


C, H, W, K, S, NCLS = 6, 2, 2, 3, 2, 5


def _make_dataset(root: Path, ds: str, rng, *, relative: bool = False) -> None:
    """A toy store; ``relative`` records image paths relative to ``data/<ds>/images`` in a
    format-2 manifest, as ``extract`` writes them (else cwd-relative paths, format 1)."""
    img_dir = root / "data" / ds / "images"
    img_dir.mkdir(parents=True)
    n = 3
    a = np.maximum(rng.normal(size=(n, C, H, W)), 0).astype(np.float32)
    a[2] = 0.0  # a degenerate image: all activations zero
    weight = rng.normal(size=(NCLS, C)).astype(np.float32)
    bias = rng.normal(size=NCLS).astype(np.float32)
    logits = a.mean((2, 3)) @ weight.T + bias
    pred = logits.argmax(1).astype(np.int32)
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob = (prob / prob.sum(1, keepdims=True))[np.arange(n), pred]
    images = []
    for i in range(n):
        p = img_dir / f"im{i}.png"
        Image.fromarray(rng.integers(0, 255, size=(20 + 5 * i, 24, 3), dtype=np.uint8)).save(p)
        images.append(
            {
                "index": i,
                "path": str(p.relative_to(img_dir if relative else root)),
                "sha256": "x",
                "label": -1,
                "label_name": None,
            }
        )
    with StoreWriter(root / "data" / ds / "activations", shard_size=2) as wr:
        wr.add(
            activations=a,
            logits=logits,
            target=pred,
            label=np.full(n, -1),
            pred=pred,
            prob=prob,
            index=np.arange(n),
        )
        wr.finish(
            {
                "model": "toy",
                "weights": {"source": "random", "path": None, "sha256": None},
                "preprocessing": {
                    "input_size": [3, 16, 16],
                    "crop_pct": 0.875,
                    "interpolation": "bilinear",
                },
                "image_size": 16,
                "layer": "forward_features",
                "shape": [C, H, W],
                "images": images,
                "skipped": [
                    {"path": "data/toy/images/broken.jpg", "reason": "cannot identify image"}
                ],
                "head": {"kind": "gap_linear", "num_classes": NCLS},
                "class_names": ["ant", "bee", "cat", "dog", "eel"],
                **({"format": 2} if relative else {}),
            },
            HeadParams(weight, bias),
        )
    arrays = {"index": np.arange(n, dtype=np.int32)}
    for m in ("cgap", "cpha"):
        lab = rng.integers(0, K, size=(n, C)).astype(np.int32)
        lab[0, :] = np.array([0, 0, 1, 1, 2, 2])
        lab[1] = np.where(lab[1] == 2, 1, lab[1])  # image 1: fewer than K concepts
        lab[2] = -1  # image 2: all zero
        sub = np.where(lab >= 0, rng.integers(0, S, size=(n, C)), -1).astype(np.int32)
        arrays.update(
            {
                f"{m}_labels": lab,
                f"{m}_sub_labels": sub,
                f"{m}_n_concepts": np.array([3, len(np.unique(lab[1])), 0], np.int32),
                f"{m}_flags": np.array([0, 1, 3], np.int32),
                f"{m}_metrics": np.zeros((n, 3), np.float32),
            }
        )
    write_part(root / "data" / ds / "concepts", arrays, {}, process_index=0, process_count=1,
               store_images=n)
