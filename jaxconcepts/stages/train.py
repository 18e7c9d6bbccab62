"""Stage ``train``: train a small timm classifier from scratch on the planted training split (CPU).

Reads the ``train`` section of params.yaml and the images written by the planted ``prepare`` step
(``data/<ds>/prepare/{train,val}``, ``data/<ds>/images`` for test), and writes

- ``data/<ds>/model/model.safetensors``: the state dict (strict-loadable);
- ``data/<ds>/model/model.json``: ``{"model", "model_kwargs", "image_size", "class_names", ...}``,
  i.e. exactly what ``jaxconcepts.features.load_model(model, weights=..., image_size=...,
  **model_kwargs)`` needs;
- ``reports/<ds>/train.json``: train/val/test accuracy, wall time, settings (DVC metrics);
- ``reports/<ds>/train_loss.csv``: ``step,epoch,loss,lr`` per optimisation step (DVC plot).

The loop, the seeding and the checkpoint round trip are :func:`jaxconcepts.features._train.
fit_classifier`'s.
"""

from __future__ import annotations

import csv
import io
import json

from jaxconcepts._io import write_json, write_text
from jaxconcepts.stages._common import REPORTS, dataset_dir, stage_config, stage_parser

__all__ = ["main"]


def _steps_csv(steps: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["step", "epoch", "loss", "lr"], lineterminator="\n")
    w.writeheader()
    for s in steps:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in s.items()})
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.set_defaults(dataset="planted")
    args = parser.parse_args(argv)
    p = stage_config(args, "train")
    truth_path = dataset_dir(args.dataset, "prepare") / "truth" / "truth.json"
    if not truth_path.is_file():
        raise FileNotFoundError(
            f"{truth_path} not found: the train stage needs the planted dataset "
            f"(run `jaxconcepts prepare --dataset {args.dataset}` with prepare.source: planted)"
        )
    truth = json.loads(truth_path.read_text())

    from jaxconcepts.features._train import fit_classifier

    prep, out_dir = dataset_dir(args.dataset, "prepare"), dataset_dir(args.dataset, "model")
    metrics, steps = fit_classifier(
        p.model, p.model_kwargs, class_folders=truth["class_folders"],
        class_names=truth["classes"], image_size=int(truth["config"]["image_size"]),
        train_dir=prep / "train", val_dir=prep / "val",
        test_dir=dataset_dir(args.dataset, "images"), out_dir=out_dir, epochs=p.epochs,
        batch_size=p.batch_size, lr=p.lr, weight_decay=p.weight_decay,
        label_smoothing=p.label_smoothing, augment=p.augment, seed=p.seed, threads=p.threads,
    )
    write_json(REPORTS / args.dataset / "train.json", metrics)
    write_text(REPORTS / args.dataset / "train_loss.csv", _steps_csv(steps))
    print(
        f"train: {p.model} test_acc={metrics['test_acc']:.4f} val_acc={metrics['val_acc']} "
        f"train_acc={metrics['train_acc']:.4f} in {metrics['train_time_s']:.0f} s → {out_dir}"
    )


if __name__ == "__main__":
    main()
