"""Stage ``train``: train a small timm classifier from scratch on the planted training split (CPU).

Reads the ``train`` section of params.yaml and the images written by the planted ``prepare`` step
(``data/<ds>/prepare/{train,val}``, ``data/<ds>/images`` for test), and writes

- ``data/<ds>/model/model.safetensors``: the state dict (strict-loadable);
- ``data/<ds>/model/model.json``: ``{"model", "model_kwargs", "image_size", "class_names", ...}``,
  i.e. exactly what ``jaxconcepts.features.load_model(model, weights=..., image_size=...,
  **model_kwargs)`` needs;
- ``reports/<ds>/train.json``: train/val/test accuracy, wall time, settings (DVC metrics);
- ``reports/<ds>/train_loss.csv``: ``step,epoch,loss,lr`` per optimisation step (DVC plot).

The test accuracy is measured by loading the saved checkpoint back through
``jaxconcepts.features.load_model`` and the extract stage's eval transform, i.e. the same path the
pipeline and users take, so a checkpoint that does not round-trip fails this stage.

Training is seeded (``torch.manual_seed``, a seeded ``torch.Generator`` for shuffling and
augmentation, ``torch.use_deterministic_algorithms``); on CPU two runs with the same seed and
thread count give the same weights.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from jaxconcepts._io import atomic_path, write_json, write_text
from jaxconcepts.stages._common import (
    REPORTS,
    dataset_dir,
    dataset_params,
    load_params,
    stage_parser,
)

__all__ = ["DEFAULTS", "load_split", "train_classifier", "evaluate", "save_model", "main"]

DEFAULTS: dict[str, Any] = {
    "model": "resnet10t",
    "model_kwargs": {
        "channels": [32, 64, 128, 128],
        "stem_width": 16,
        "output_stride": 8,
        "pretrained_cfg_overlay": {"crop_pct": 1.0},
    },
    "epochs": 10,
    "batch_size": 32,
    "lr": 0.003,
    "weight_decay": 0.05,
    "label_smoothing": 0.0,
    "augment": True,
    "seed": 0,
    "threads": 2,
}


def _data_config(model, image_size: int) -> dict:
    import timm

    cfg = dict(timm.data.resolve_data_config({}, model=model))
    cfg["input_size"] = (3, int(image_size), int(image_size))
    return cfg


def load_split(root: str | Path, class_folders: list[str], data_config: dict):
    """Images of an ImageFolder tree → (x float32 (n, 3, S, S) normalised, y int64 (n,)).

    Uses ``jaxconcepts.features.make_transform`` (the extract stage's eval transform), so
    training sees exactly the pixels extraction will see.

    Raises:
      ValueError: a folder that is not one of ``class_folders``, or no images.
    """
    import torch

    from jaxconcepts.features import list_images, load_rgb, make_transform

    records, _ = list_images(root)
    to_idx = {c: i for i, c in enumerate(class_folders)}
    bad = sorted({r.label_name for r in records} - set(to_idx))
    if bad:
        raise ValueError(
            f"image folder {str(root)!r} has class folders {bad} not in {class_folders}"
        )
    t = make_transform(data_config)
    x = torch.stack([t(load_rgb(r.path)) for r in records])
    y = torch.tensor([to_idx[r.label_name] for r in records], dtype=torch.int64)
    return x, y


def _augment(x, g):
    """Random flips and 90° rotations per batch (the planted parts are rotation-invariant)."""
    import torch

    k = int(torch.randint(0, 4, (1,), generator=g))
    x = torch.rot90(x, k, dims=(2, 3))
    if bool(torch.randint(0, 2, (1,), generator=g)):
        x = torch.flip(x, dims=(3,))
    return x


def evaluate(model, x, y, *, batch_size: int = 128) -> tuple[float, np.ndarray]:
    """Accuracy and predictions of ``model`` (eval mode) on (x, y)."""
    import torch

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            preds.append(model(x[i : i + batch_size]).argmax(1))
    pred = torch.cat(preds).numpy() if preds else np.zeros((0,), np.int64)
    return float((pred == y.numpy()).mean()) if len(pred) else float("nan"), pred


def train_classifier(
    model,
    x,
    y,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    label_smoothing: float = 0.0,
    augment: bool = True,
    x_val=None,
    y_val=None,
    progress: bool = True,
) -> tuple[list[dict], list[dict]]:
    """AdamW + one-cycle cosine schedule, cross-entropy. Returns (per-step log, per-epoch log).

    Raises:
      ValueError: non-positive ``epochs``/``batch_size``/``lr``, or ``x``/``y`` lengths differ.
    """
    import torch
    from tqdm.auto import tqdm

    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if not v > 0:
            raise ValueError(f"{name}={v!r} should be > 0")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels (need equal, > 0)")
    g = torch.Generator().manual_seed(int(seed))
    steps_per_epoch = (len(x) + batch_size - 1) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.15
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    steps, epochs_log = [], []
    step = 0
    total = epochs * steps_per_epoch
    with tqdm(total=total, desc="train", unit="step", disable=not progress) as bar:
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(len(x), generator=g)
            for i in range(0, len(x), batch_size):
                idx = perm[i : i + batch_size]
                xb = _augment(x[idx], g) if augment else x[idx]
                loss = loss_fn(model(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps.append({"step": step, "epoch": epoch, "loss": loss.item(),
                              "lr": float(sched.get_last_lr()[0])})
                sched.step()
                step += 1
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{steps[-1]['loss']:.3f}")
            losses = [s["loss"] for s in steps[-steps_per_epoch:]]
            rec = {"epoch": epoch, "train_loss": float(np.mean(losses))}
            if x_val is not None and len(x_val):
                rec["val_acc"] = evaluate(model, x_val, y_val)[0]
                bar.set_postfix(epoch=epoch, val_acc=f"{rec['val_acc']:.3f}")
            epochs_log.append(rec)
    model.eval()
    return steps, epochs_log


def save_model(model, out_dir: str | Path, info: dict) -> Path:
    """Write ``model.safetensors`` (state dict) and ``model.json`` (``info``) atomically."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    path = out_dir / "model.safetensors"
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"model": info["model"]})
    write_json(out_dir / "model.json", info)
    return path


def _steps_csv(steps: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["step", "epoch", "loss", "lr"], lineterminator="\n")
    w.writeheader()
    for s in steps:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in s.items()})
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    import timm
    import torch

    parser = stage_parser(__doc__.splitlines()[0])
    parser.set_defaults(dataset="planted")
    args = parser.parse_args(argv)
    params = dataset_params(load_params(args.params), args.dataset)
    p = {**DEFAULTS, **(params.get("train") or {})}
    unknown = sorted(set(p) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown train params {unknown}; valid keys: {sorted(DEFAULTS)}")
    truth_path = dataset_dir(args.dataset, "prepare") / "truth" / "truth.json"
    if not truth_path.is_file():
        raise FileNotFoundError(
            f"{truth_path} not found: the train stage needs the planted dataset "
            f"(run `jaxconcepts prepare --dataset {args.dataset}` with prepare.source: planted)"
        )
    truth = json.loads(truth_path.read_text())
    class_folders, image_size = truth["class_folders"], int(truth["config"]["image_size"])
    seed = int(p["seed"])
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if p.get("threads"):
        torch.set_num_threads(int(p["threads"]))

    model_kwargs = {"num_classes": len(class_folders), **(p["model_kwargs"] or {})}
    model = timm.create_model(p["model"], pretrained=False, **model_kwargs)
    cfg = _data_config(model, image_size)
    prep = dataset_dir(args.dataset, "prepare")
    x_tr, y_tr = load_split(prep / "train", class_folders, cfg)
    x_va, y_va = (
        load_split(prep / "val", class_folders, cfg) if (prep / "val").is_dir() else (None, None)
    )

    t0 = time.perf_counter()
    steps, epochs_log = train_classifier(
        model, x_tr, y_tr, epochs=int(p["epochs"]), batch_size=int(p["batch_size"]),
        lr=float(p["lr"]), weight_decay=float(p["weight_decay"]), seed=seed,
        label_smoothing=float(p["label_smoothing"]), augment=bool(p["augment"]),
        x_val=x_va, y_val=y_va,
    )
    train_time = time.perf_counter() - t0

    out_dir = dataset_dir(args.dataset, "model")
    info = {
        "model": p["model"],
        "model_kwargs": model_kwargs,
        "image_size": image_size,
        "class_names": truth["classes"],
        "class_folders": class_folders,
        "data_config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "seed": seed,
    }
    path = save_model(model, out_dir, info)

    # Test accuracy through the user-facing checkpoint path (strict load + extract's transform).
    from jaxconcepts.features import load_model

    lm = load_model(p["model"], weights=str(path), image_size=image_size, **model_kwargs)
    x_te, y_te = load_split(dataset_dir(args.dataset, "images"), class_folders, lm.data_config)
    test_acc, test_pred = evaluate(lm.model, x_te, y_te)
    per_class = {
        name: float((test_pred[y_te.numpy() == c] == c).mean())
        for c, name in enumerate(truth["classes"]) if (y_te.numpy() == c).any()
    }
    metrics = {
        "train_acc": evaluate(model, x_tr, y_tr)[0],
        "val_acc": evaluate(model, x_va, y_va)[0] if x_va is not None else None,
        "test_acc": test_acc,
        "test_acc_per_class": per_class,
        "train_time_s": round(train_time, 2),
        "n_train": len(x_tr), "n_val": 0 if x_va is None else len(x_va), "n_test": len(x_te),
        "epochs": int(p["epochs"]), "steps": len(steps),
        "threads": torch.get_num_threads(),
        "model": p["model"],
        "n_params": int(sum(t.numel() for t in model.parameters())),
        "feature_shape": list(lm.g(x_te[:1]).shape[1:]),
        "head_kind": lm.head_kind,
        "epoch_log": epochs_log,
    }
    write_json(REPORTS / args.dataset / "train.json", metrics)
    write_text(REPORTS / args.dataset / "train_loss.csv", _steps_csv(steps))
    print(
        f"train: {p['model']} test_acc={test_acc:.4f} val_acc={metrics['val_acc']} "
        f"train_acc={metrics['train_acc']:.4f} in {train_time:.0f} s → {path}"
    )


if __name__ == "__main__":
    main()
