"""Train a small timm classifier from scratch (the planted dataset's model), CPU, seeded.

The training loop of the ``train`` stage, as library code: ``fit_classifier`` builds the model,
loads the splits through the extract stage's eval transform (training sees exactly the pixels
extraction will see), trains with AdamW + a one-cycle cosine schedule, saves a strict-loadable
checkpoint and measures the test accuracy by loading it back through ``load_model``.

Seeding: shuffling and augmentation draw from a ``torch.Generator``; the model's initialisation
draws from torch's global generator inside ``torch.random.fork_rng`` (as does ``load_model``'s
throw-away initialisation), so the caller's global RNG state, deterministic-algorithms flag and
thread count are restored afterwards. On CPU two runs with
the same seed and thread count give the same weights.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from jaxconcepts._io import atomic_path, write_json

__all__ = ["load_split", "train_classifier", "evaluate", "save_model", "fit_classifier"]


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
    label_smoothing: float,
    augment: bool,
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
    g = torch.Generator().manual_seed(int(seed))  # shuffling and augmentation
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


def fit_classifier(
    model_name: str,
    model_kwargs: dict[str, Any],
    *,
    class_folders: list[str],
    class_names: list[str],
    image_size: int,
    train_dir: str | Path,
    val_dir: str | Path | None,
    test_dir: str | Path,
    out_dir: str | Path,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    label_smoothing: float,
    augment: bool,
    seed: int,
    threads: int | None,
    progress: bool = True,
) -> tuple[dict[str, Any], list[dict]]:
    """Train ``model_name`` on ``train_dir`` (an ImageFolder tree of ``class_folders``), save it
    to ``out_dir`` (``model.safetensors`` + ``model.json``) and evaluate it.

    Returns:
      (metrics, per-step log): metrics hold train/val/test accuracy (test through the saved
      checkpoint and ``load_model``), per-class test accuracy, wall time and the model's shape.
    """
    import timm
    import torch

    from jaxconcepts.features._models import load_model

    model_kwargs = {"num_classes": len(class_folders), **(model_kwargs or {})}
    deterministic = torch.are_deterministic_algorithms_enabled()
    n_threads = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(int(threads))
        torch.use_deterministic_algorithms(True, warn_only=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))  # timm's initialisers draw from the global generator
            model = timm.create_model(model_name, pretrained=False, **model_kwargs)
            cfg = _data_config(model, image_size)
            x_tr, y_tr = load_split(train_dir, class_folders, cfg)
            x_va, y_va = (load_split(val_dir, class_folders, cfg)
                          if val_dir is not None and Path(val_dir).is_dir() else (None, None))
            t0 = time.perf_counter()
            steps, epochs_log = train_classifier(
                model, x_tr, y_tr, epochs=epochs, batch_size=batch_size, lr=lr,
                weight_decay=weight_decay, seed=seed, label_smoothing=label_smoothing,
                augment=augment, x_val=x_va, y_val=y_va, progress=progress,
            )
            train_time = time.perf_counter() - t0
            info = {
                "model": model_name,
                "model_kwargs": model_kwargs,
                "image_size": int(image_size),
                "class_names": class_names,
                "class_folders": class_folders,
                "data_config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
                "seed": int(seed),
            }
            path = save_model(model, out_dir, info)
            # test accuracy through the user-facing checkpoint path (strict load, extract's
            # transform)
            lm = load_model(model_name, weights=str(path), image_size=image_size, **model_kwargs)
            x_te, y_te = load_split(test_dir, class_folders, lm.data_config)
            test_acc, test_pred = evaluate(lm.model, x_te, y_te)
            y_np = y_te.numpy()
            metrics = {
                "train_acc": evaluate(model, x_tr, y_tr)[0],
                "val_acc": evaluate(model, x_va, y_va)[0] if x_va is not None else None,
                "test_acc": test_acc,
                "test_acc_per_class": {
                    name: float((test_pred[y_np == c] == c).mean())
                    for c, name in enumerate(class_names) if (y_np == c).any()
                },
                "train_time_s": round(train_time, 2),
                "n_train": len(x_tr), "n_val": 0 if x_va is None else len(x_va),
                "n_test": len(x_te),
                "epochs": int(epochs), "steps": len(steps),
                "threads": torch.get_num_threads(),
                "model": model_name,
                "n_params": int(sum(t.numel() for t in model.parameters())),
                "feature_shape": list(lm.g(x_te[:1]).shape[1:]),
                "head_kind": lm.head_kind,
                "epoch_log": epochs_log,
            }
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(n_threads)
    return metrics, steps
