"""Extraction throughput against its ceiling: the same model's forward pass on pre-decoded tensors.

Writes ``reports/benchmarks/extraction.json``. Usage:
``python -m benchmarks extraction [--n 96] [--workers 0 2] [--device cpu] [--autocast bfloat16]``.

- **ceiling**: the images decoded, resized and normalised beforehand (not timed), then only the
  forward pass jaxconcepts runs (``forward_features`` + ``forward_head``, channels_last,
  ``inference_mode``, the same batch size, device and autocast), batch after batch.
- **ours**: :func:`jaxconcepts.features.extract` from files to a finished store (listing, decode and
  resize in ``workers`` DataLoader processes, forward, NaN checks, sha256 of every image and shard,
  checkpoint commits, merge), for each worker count.

Images are the shipped photos, repeated to ``--n`` files. All timings run in one process, one after
the other, after one warm-up batch; each number is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks._common import machine_info


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--shard-size", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--autocast", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="reports/benchmarks/extraction.json")
    args = ap.parse_args(argv)

    import torch

    from jaxconcepts.features import extract, load_model, load_rgb, make_transform
    from jaxconcepts.features._extract import _AUTOCAST, _forward
    from jaxconcepts.stages.prepare import packaged_photos

    if args.threads:
        torch.set_num_threads(args.threads)
    photos = packaged_photos()
    tmp = Path(tempfile.mkdtemp())
    images = tmp / "images"
    images.mkdir()
    for i in range(args.n):
        name, src = photos[i % len(photos)]
        shutil.copyfile(src, images / f"{i:05d}-{name}")
    lm = load_model("tf_efficientnet_lite0", weights="embedded", image_size=args.image_size)
    dev = torch.device(args.device)
    model = lm.model.to(device=dev, memory_format=torch.channels_last)
    tf = make_transform(lm.data_config)
    files = sorted(images.iterdir())
    batches = [torch.stack([tf(load_rgb(p)) for p in files[s:s + args.batch_size]])
               .contiguous(memory_format=torch.channels_last).to(dev)
               for s in range(0, len(files), args.batch_size)]

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def ceiling() -> float:
        amp = (torch.autocast(dev.type, dtype=_AUTOCAST[args.autocast]) if args.autocast
               else torch.autocast(dev.type, enabled=False))
        t0 = time.perf_counter()
        with torch.inference_mode(), amp:
            for x in batches:
                _forward(lm, x)
        sync()
        return time.perf_counter() - t0

    def ours(workers: int) -> float:
        out = tmp / f"store-{workers}"
        t0 = time.perf_counter()
        extract(lm, images, out, batch_size=args.batch_size, shard_size=args.shard_size,
                workers=workers, device=args.device, autocast=args.autocast, progress=False)
        sync()
        dt = time.perf_counter() - t0
        shutil.rmtree(out)
        return dt

    try:
        ceiling()  # warm-up (one pass, untimed)
        runs = {"ceiling": [], **{f"workers_{w}": [] for w in args.workers}}
        for _ in range(args.repeats):  # interleaved so that machine load hits every variant
            runs["ceiling"].append(ceiling())
            for w in args.workers:
                runs[f"workers_{w}"].append(ours(w))
    finally:
        shutil.rmtree(tmp)
    best = {k: args.n / min(v) for k, v in runs.items()}
    report = {
        "benchmark": "extraction",
        "what": "images/s from image files to a finished store, vs the forward pass alone on "
                "pre-decoded tensors (the ceiling)",
        "n_images": args.n, "image_size": args.image_size, "batch_size": args.batch_size,
        "shard_size": args.shard_size, "device": args.device, "autocast": args.autocast,
        "model": "tf_efficientnet_lite0 (embedded weights)",
        "ceiling_images_per_s": best["ceiling"],
        "ours": {k: {"images_per_s": v, "fraction_of_ceiling": v / best["ceiling"]}
                 for k, v in best.items() if k != "ceiling"},
        "seconds_per_run": runs, "torch_threads": torch.get_num_threads(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_info(),
    }
    from jaxconcepts._io import write_json

    write_json(args.out, report)
    print(f"extraction: ceiling {best['ceiling']:.1f} img/s; "
          + "; ".join(f"{k} {v:.1f} img/s ({v / best['ceiling']:.0%})"
                      for k, v in best.items() if k != "ceiling"))
    return report
