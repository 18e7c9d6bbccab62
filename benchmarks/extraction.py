"""Extraction throughput: jaxconcepts' extract (images → store) against timm's own forward pass.

Writes ``reports/benchmarks/extraction.json``. Usage: ``python -m benchmarks extraction [--n 64]``.
Both run in this process on the same images at the same size: the reference is the plain
``model(x)`` loop a user would write (timm transform, batch, forward, default memory format);
ours is :func:`jaxconcepts.features.extract`, which also decodes, checks, converts to numpy and
writes safetensors shards. Images are the shipped photos, repeated to ``--n`` images.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks._common import Timer, machine_info, peak_memory


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--out", default="reports/benchmarks/extraction.json")
    args = ap.parse_args(argv)

    import torch

    from jaxconcepts.features import extract, load_model, load_rgb, make_transform
    from jaxconcepts.stages.prepare import packaged_photos

    photos = packaged_photos()
    tmp = Path(tempfile.mkdtemp())
    try:
        for i in range(args.n):
            name, src = photos[i % len(photos)]
            shutil.copyfile(src, tmp / f"{i:05d}-{name}")
        lm = load_model("tf_efficientnet_lite0", weights="embedded", image_size=args.image_size)
        tf = make_transform(lm.data_config)
        files = sorted(p for p in tmp.iterdir())

        # reference: timm's forward pass, the way a user would call it (decode + transform included)
        model = load_model("tf_efficientnet_lite0", weights="embedded",
                           image_size=args.image_size).model
        with peak_memory() as mem_ref, Timer() as t_ref:
            for s in range(0, len(files), args.batch_size):
                x = torch.stack([tf(load_rgb(p)) for p in files[s : s + args.batch_size]])
                with torch.no_grad():
                    model(x)
        with peak_memory() as mem_ours, Timer() as t_ours:
            m = extract(lm, tmp, tmp.parent / f"{tmp.name}-store", batch_size=args.batch_size,
                        progress=False)
        shutil.rmtree(tmp.parent / f"{tmp.name}-store")
    finally:
        shutil.rmtree(tmp)
    ours, ref = args.n / t_ours.seconds, args.n / t_ref.seconds
    report = {
        "benchmark": "extraction",
        "what": "images/s from files to activations; ours also writes the store",
        "n_images": args.n, "image_size": args.image_size, "batch_size": args.batch_size,
        "feature_shape": m["shape"],
        "ours_images_per_s": ours, "reference_images_per_s": ref, "ratio": ours / ref,
        "reference": "timm model(x) loop, default memory format, torch.no_grad",
        "peak_rss_bytes": {"ours": mem_ours.bytes, "reference": mem_ref.bytes},
        "torch_threads": torch.get_num_threads(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine_info(),
    }
    from jaxconcepts._io import write_json

    write_json(args.out, report)
    print(f"extraction: ours {ours:.1f} img/s, timm forward {ref:.1f} img/s, ratio {ours / ref:.2f}")
    return report
