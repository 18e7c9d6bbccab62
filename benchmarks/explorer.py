"""``python -m benchmarks explorer [--images N] [--channels C] [--reference-images M] [--out F]``:
building the concept explorer for a 10 k-image synthetic dataset (the bar: ≤ 2 minutes on 2
cores, first view ≤ 2 MB).

The dataset: a float16 activation store (C channels, 8 × 8 grid, 1000-way linear head, logits),
one JPEG per image (160 × 120), CGAP / CPHA labels and importance for every image, and C2MF-like
(shared, k = 10) and CRAFT-like (per class, 10 classes × 10) atlases over 512 images, as the
pipeline's ``c2mf`` stage writes them. Timed: :func:`jaxconcepts.explorer.build_explorer`, pictures
included, with 2 picture workers. Reference, measured in the same run: the report's way of
showing heatmaps, the ``figures`` stage's per-image PNGs (CGAP and CPHA concepts, sub-concepts,
the side-by-side figure; matplotlib) on ``--reference-images`` of the same images, as images/s.
Writes ``reports/benchmarks/explorer.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import machine_info, peak_memory

K, S, Y, KD, NOUT, HW = 5, 3, 10, 10, 1000, (8, 8)


def make_dataset(root: Path, n: int, channels: int, *, seed: int = 0):
    """The synthetic dataset (module docstring): returns the explorer's inputs."""
    from PIL import Image

    from jaxconcepts.explorer import DictionaryCodes, ExplorerInputs
    from jaxconcepts.store import ActivationStore, HeadParams, StoreWriter

    rng = np.random.default_rng(seed)
    img_dir = root / "images"
    img_dir.mkdir(parents=True)
    base = rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
    head = HeadParams(rng.normal(size=(NOUT, channels)).astype(np.float32) / 10,
                      np.zeros(NOUT, np.float32))
    pool = np.maximum(rng.standard_normal((256 * 64 + 4096, channels), dtype=np.float32), 0)
    images = []
    with StoreWriter(root / "activations", shard_size=256, dtype="float16") as wr:
        for s in range(0, n, 256):
            b = min(256, n - s)
            idx = rng.integers(0, pool.shape[0] - b * 64, 1)[0]
            a = pool[idx:idx + b * 64].reshape(b, 64, channels).transpose(0, 2, 1)
            a = a.reshape(b, channels, *HW) * rng.uniform(0.5, 2, size=(b, 1, 1, 1))
            logits = (a.mean((2, 3)) @ np.asarray(head.weight).T).astype(np.float32)
            pred = logits.argmax(1).astype(np.int32)
            for i in range(s, s + b):
                name = f"{i % Y:02d}_class/img {i:05d}.jpg"
                (img_dir / name).parent.mkdir(exist_ok=True)
                Image.fromarray(np.roll(base, i, axis=1)).save(img_dir / name, quality=85)
                images.append({"index": i, "path": name, "sha256": "x", "label": i % Y,
                               "label_name": f"{i % Y:02d}_class"})
            wr.add(activations=a.astype(np.float32), logits=logits, target=pred,
                   label=np.arange(s, s + b) % Y, pred=pred,
                   prob=np.full(b, 0.5, np.float32), index=np.arange(s, s + b))
        wr.finish({"model": "synthetic", "weights": {"source": "random"}, "format": 2,
                   "preprocessing": {"input_size": [3, 224, 224], "crop_pct": 0.875,
                                     "interpolation": "bilinear"},
                   "image_size": 224, "layer": "forward_features", "shape": [channels, *HW],
                   "images": images, "skipped": [],
                   "head": {"kind": "gap_linear", "num_classes": NOUT},
                   "class_names": None}, head=head)
    store = ActivationStore(root / "activations", image_root=img_dir)
    lab = rng.integers(-1, K, size=(n, channels)).astype(np.int32)
    sub = np.where(lab >= 0, rng.integers(0, S, size=(n, channels)), -1).astype(np.int32)
    concepts = {"index": np.arange(n, dtype=np.int32)}
    importance = {"index": np.arange(n, dtype=np.int32)}
    for m in ("cgap", "cpha"):
        concepts[f"{m}_labels"], concepts[f"{m}_sub_labels"] = lab, sub
        importance[f"{m}_importance"] = rng.uniform(-5, 90, (n, K)).astype(np.float32)
        importance[f"{m}_sub_importance"] = rng.uniform(-5, 50, (n, K, S)).astype(np.float32)
    coded = np.sort(rng.choice(n, min(512, n), replace=False))
    y = coded % Y
    classes = [f"{c:02d}_class" for c in range(Y)]
    words = [[["word", 0.5]] for _ in range(Y * KD)]
    c2mf = DictionaryCodes("c2mf", KD, True, coded, y, rng.uniform(0, 1, (coded.size, KD, *HW)),
                           rng.uniform(0, 1, (Y, KD)), [f"C{j}" for j in range(KD)],
                           words[:KD], list(range(KD)), classes, False)
    craft = DictionaryCodes("craft", KD, False, coded, y,
                            rng.uniform(0, 1, (coded.size, KD, *HW)),
                            np.kron(np.eye(Y), np.ones((1, KD))),
                            [f"{c}/{j}" for c in classes for j in range(KD)], words,
                            list(range(Y * KD)), classes, False)
    dictionaries = {f"c2mf_k{KD}_W": rng.normal(size=(KD, channels)).astype(np.float32),
                    f"craft_k{KD}_W": rng.uniform(0, 1, (Y, KD, channels)).astype(np.float32)}
    return ExplorerInputs(dataset="synthetic", store=store, concepts=concepts,
                          importance=importance, n_concepts=K, n_sub=S, atlases=[c2mf, craft],
                          dictionaries=dictionaries, gate_threshold=0.5,
                          output_names=[f"output {o}" for o in range(NOUT)])


def reference_figures(inp, n: int, folder: Path) -> float:
    """Seconds for the ``figures`` stage's PNGs of the first ``n`` images (maps + drawing)."""
    from jaxconcepts.viz import (concept_maps, describe_images, image_figures, load_model_view,
                                 save_png, sub_concept_maps, to_gray)

    store, c, imp = inp.store, inp.concepts, inp.importance
    for m in ("cgap", "cpha"):
        imp[f"{m}_keep_importance"] = imp[f"{m}_importance"]
    imp.setdefault("p_t", np.full(len(store), 0.5, np.float32))
    imp.setdefault("target", store.read("pred").astype(np.int32))
    entries = describe_images(store.images[:n], store.read("pred")[:n], c, imp, ("cgap", "cpha"),
                              K, S, 0.0, lambda i: f"output {i}")
    prep = store.manifest["preprocessing"]
    size = (224, 224)
    t0 = time.perf_counter()
    done = 0
    for b in store.iter_batches(8, fields=("activations", "index"), as_jax=False):
        rows = list(range(done, min(done + len(b["index"]), n)))
        if not rows:
            break
        a = b["activations"][: len(rows)]
        per = {}
        for m in ("cgap", "cpha"):
            lab, sub = c[f"{m}_labels"][rows], c[f"{m}_sub_labels"][rows]
            per[m] = (lab, sub, np.asarray(concept_maps(a, lab, n_concepts=K, size=size).maps),
                      np.asarray(sub_concept_maps(a, lab, sub, n_concepts=K, n_sub=S,
                                                  size=size).maps))
        for j, r in enumerate(rows):
            gray = to_gray(load_model_view(entries[r]["path"], prep))
            mine = {m: tuple(x[j] for x in v) for m, v in per.items()}
            for _, name, fig in image_figures(entries[r], gray, mine, imp, r, K, S):
                save_png(fig, folder / name, dpi=80)
        done += len(rows)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--channels", type=int, default=1280)
    ap.add_argument("--reference-images", type=int, default=48)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="reports/benchmarks/explorer.json")
    args = ap.parse_args(argv)
    from jaxconcepts.explorer import build_explorer

    root = Path(tempfile.mkdtemp(prefix="jc-explorer-bench-"))
    try:
        t0 = time.perf_counter()
        inp = make_dataset(root / "ds", args.images, args.channels)
        make_s = time.perf_counter() - t0
        out = root / "explorer"
        out.mkdir()
        with peak_memory() as pm:
            summary = build_explorer(out, inp, chunk_size=100, thumb=96, workers=args.workers)
        chunk_sizes = [p.stat().st_size for p in (out / "data").glob("chunk-*.js")]
        pictures = sum(p.stat().st_size for d in ("img", "thumbs") for p in (out / d).iterdir())
        ref_dir = root / "figures"
        ref_dir.mkdir()
        ref_s = reference_figures(inp, args.reference_images, ref_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ours = summary["images"] / summary["seconds"]
    ref = args.reference_images / ref_s
    result = {
        "benchmark": "explorer",
        "what": "build the concept explorer (every image: maps, importance, codes, pictures) vs "
                "the figures stage's matplotlib PNGs per image (the report's heatmaps)",
        "images": summary["images"], "channels": args.channels, "grid": list(HW),
        "build_seconds": summary["seconds"], "bar_seconds": 120,
        "within_bar": summary["seconds"] <= 120,
        "first_view_bytes": summary["first_view_bytes"], "bar_first_view_bytes": 2_000_000,
        "data_bytes": summary["data_bytes"], "chunks": summary["chunks"],
        "largest_chunk_bytes": max(chunk_sizes), "picture_bytes": pictures,
        "peak_rss_bytes": pm.bytes, "dataset_seconds": round(make_s, 1),
        "ours_images_per_s": round(ours, 2),
        "reference": {"images": args.reference_images, "seconds": round(ref_s, 2),
                      "images_per_s": round(ref, 3)},
        "ratio": round(ours / ref, 1),
        "workers": args.workers, "machine": machine_info(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
