"""Does the ImageNet classifier recognise the objects dataset's classes? (a measurement, not a test)

The ``recovery`` stage measures recognition on the extracted ``objects`` store (with intervals,
``reports/objects/recovery.md``); this script measures it on freshly generated images instead, so
generator settings (``--scale``, ``--image-size``) can be tried without running the pipeline.
Generates ``--n`` images per class (in memory, test-split seeds) and runs the pipeline's model
(``extract`` defaults: embedded EfficientNet-Lite0 at 256 px, timm's eval transform) on them.
Prints, per class, the share of images whose top-1 / top-5 prediction is one of the class's
ImageNet wnids, and the most frequent top-1 answers:

    PYTHONPATH=$PWD python scripts/objects_recognition.py [--n 20] [--seed 0] [--image-size 256]
        [--scale 0.35 0.75] [--json out.json]
"""

import argparse
import collections
import json
from pathlib import Path

import numpy as np
import torch

from jaxconcepts.datasets import ObjectsConfig, generate_object_split, load_sources
from jaxconcepts.features import load_model, make_transform


def imagenet_lemmas() -> tuple[list[str], dict[str, str]]:
    """ImageNet-1k wnids in logit order and their first lemma, from timm's bundled files."""
    import timm

    info = Path(timm.__file__).parent / "data" / "_info"
    wnids = (info / "imagenet_synsets.txt").read_text().split()
    lemma = {}
    for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines():
        w, _, names = line.partition("\t")
        lemma[w] = names.split(",")[0]
    return wnids, lemma


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="images per class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--scale", type=float, nargs=2, default=None)
    ap.add_argument("--classes", nargs="*", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    kw = {"scale": tuple(args.scale)} if args.scale else {}
    config = ObjectsConfig(image_size=args.image_size, classes=args.classes, n_test=args.n, **kw)
    sources = load_sources(config)
    model = load_model(image_size=args.image_size)
    transform = make_transform(model.data_config)
    wnids, lemma = imagenet_lemmas()
    index = {w: i for i, w in enumerate(wnids)}

    from PIL import Image

    images = list(generate_object_split(config, "test", seed=args.seed, sources=sources))
    logits = []
    with torch.no_grad():
        for i in range(0, len(images), 16):
            x = torch.stack([transform(Image.fromarray(im.image)) for im in images[i:i + 16]])
            logits.append(model.model(x).numpy())
    top5 = np.argsort(-np.concatenate(logits), axis=1)[:, :5]
    labels = np.array([im.label for im in images])

    rows = []
    for c, cut in enumerate(sources.cutouts):
        ids = [index[w] for w in cut.spec.wnids]
        t5 = top5[labels == c]
        hit1 = np.isin(t5[:, 0], ids).mean() if ids else float("nan")
        hit5 = np.isin(t5, ids).any(1).mean() if ids else float("nan")
        common = collections.Counter(lemma[wnids[j]] for j in t5[:, 0]).most_common(3)
        rows.append({"class": cut.spec.name, "n": int(len(t5)), "top1": float(hit1),
                     "top5": float(hit5), "wnids": [f"{w} {lemma[w]}" for w in cut.spec.wnids],
                     "top1_answers": common})
    print(f"{'class':<15}{'n':>4}{'top-1':>8}{'top-5':>8}  most frequent top-1")
    for r in rows:
        answers = ", ".join(f"{a} ({k})" for a, k in r["top1_answers"])
        print(f"{r['class']:<15}{r['n']:>4}{r['top1']:>8.2f}{r['top5']:>8.2f}  {answers}")
    if args.json is not None:
        args.json.write_text(json.dumps({"config": vars(args) | {"json": str(args.json)},
                                         "rows": rows}, indent=1))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
