"""Extraction: images → g(x) activations (torch, once) → the activation store. Resumable.

Images are split into shards of ``shard_size`` consecutive files (sorted by relative path).
Each shard is a unit of work: decoded and resized in ``DataLoader`` workers or loader threads
(prefetching while the model runs, see ``_loader``), forwarded in batches that never cross a
shard boundary, and committed (on a background writer thread) to a
checkpoint directory (default ``<out>.partial``) as a safetensors file plus a JSON record with its
sha256. A rerun after a kill (even SIGKILL) skips every shard whose record and checksum agree and
redoes the rest; the checkpoint is tied to a fingerprint of the model, preprocessing and inputs.
When every shard is done, one merge writes ``manifest.json`` and hard-links the shards into
``out`` atomically, then deletes the checkpoint. Shard bytes depend only on their images, so the
store is byte-identical whether the run was interrupted or split over processes.

Several processes (``process_index``/``process_count``, default from the launcher environment:
``JAX_PROCESS_ID``/``JAX_NUM_PROCESSES``, ``SLURM_PROCID``/``SLURM_NTASKS``, ``RANK``/
``WORLD_SIZE``, or an initialised ``jax.distributed``) take contiguous ranges of shards; the last
one to finish merges.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from jaxconcepts._io import atomic_dir, sha256_file, write_json
from jaxconcepts.features._heads import tokens_to_grid
from jaxconcepts.features._images import list_images
from jaxconcepts.features import _loader
from jaxconcepts.features._loader import (ImageDataset, PhaseClock, ShardWriter, iter_batches,
                                          second_openmp_team)
from jaxconcepts.features._models import LoadedModel
from jaxconcepts.features._preprocess import (
    make_transform,
    normalize_batch,
    split_transform,
)
from jaxconcepts.heads import HeadParams
from jaxconcepts.store import label_indices, write_shard
from jaxconcepts.store._activations import store_dtype, write_head

__all__ = ["extract", "NonFiniteActivationError", "make_transform", "process_split", "FORMAT",
           "forward_batch", "batch_rows", "AUTOCAST_DTYPES"]

FORMAT = 2
#: ``extract(autocast=...)``'s choices and the torch dtypes they run the forward in
AUTOCAST_DTYPES = {None: None, "bfloat16": torch.bfloat16, "float16": torch.float16}


class NonFiniteActivationError(ValueError):
    """The model produced NaN or Inf activations for an image."""


def process_split() -> tuple[int, int]:
    """(process index, process count) from the launcher environment or ``jax.distributed``
    (:func:`jaxconcepts._parts.process_slot`, the one reader of the launchers' variables)."""
    from jaxconcepts._parts import process_slot

    return process_slot()


def forward_batch(lm: LoadedModel, x: torch.Tensor):
    """A normalised batch's ``(features, logits)``: g(x) at the model's layer (a ViT's tokens as a
    grid) and h on it; the forward of every extraction."""
    if lm.layer is None:
        raw = lm.model.forward_features(x)
        logits = lm.model.forward_head(raw)  # h on g's raw output: exact for any head
    else:
        box = {}
        hook = lm.model.get_submodule(lm.layer).register_forward_hook(
            lambda _m, _i, out: box.__setitem__("f", out))
        try:
            logits = lm.model(x)
        finally:
            hook.remove()
        raw = box["f"]
    return (tokens_to_grid(lm.model, raw) if raw.ndim == 3 else raw), logits


def _fingerprint(lm, records, settings) -> dict:
    h = hashlib.sha256()
    for r in records:
        st = r.path.stat()
        h.update(f"{r.rel}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return {"format": FORMAT, "rebuild": lm.spec(), "files": h.hexdigest(),
            "n_files": len(records), **settings}


def _shard_ok(ckpt: Path, k: int) -> dict | None:
    """The shard's record when its file is present and its sha256 agrees, else None."""
    rec_path = ckpt / f"shard-{k:05d}.json"
    try:
        rec = json.loads(rec_path.read_text())
        if rec["rows"] and sha256_file(ckpt / rec["file"]) != rec["sha256"]:
            return None
        return rec
    except (OSError, ValueError, KeyError):
        return None


def _open_checkpoint(ckpt: Path, fp: dict, process_count: int) -> None:
    state = ckpt / "state.json"
    if state.is_file():
        try:
            old = json.loads(state.read_text())
        except ValueError:
            old = None
        if old == json.loads(json.dumps(fp)):
            return
        if process_count > 1:
            raise ValueError(f"checkpoint {str(ckpt)!r} belongs to another extraction (model, "
                             "settings or images changed); delete it and start every process again")
        warnings.warn(f"checkpoint {str(ckpt)!r} is from other settings or images: starting over",
                      stacklevel=3)
        shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True, exist_ok=True)
    write_json(state, fp)


def extract(
    lm: LoadedModel,
    image_root: str | Path,
    out: str | Path,
    *,
    batch_size: int,
    shard_size: int,
    use_label_as_target: bool = False,
    dtype: str = "float32",
    workers: int = 0,
    prefetch: int = 2,
    device: str = "cpu",
    autocast: str | None = None,
    resize: str = "pil",
    jpeg_draft: float | None = None,
    checkpoint: str | Path | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
    progress: bool = True,
    on_shard: Callable[[int], None] | None = None,
    timings: dict[str, float] | None = None,
) -> dict | None:
    """Extract g(x) for every image under ``image_root`` and write the store at ``out``.

    Args:
        lm: a :class:`LoadedModel` (see ``load_model_from_params``).
        image_root: a flat or ImageFolder-style folder of images.
        out: the store directory (replaced atomically when every shard is done).
        batch_size: images per forward pass (batches stay inside a shard).
        shard_size: images (files) per shard: the unit of resumption and of splitting.
        use_label_as_target: target = label (when the image has one) instead of the prediction.
        dtype: storage dtype of the activations: ``float32``, ``float16`` or ``bfloat16``.
        workers: DataLoader worker processes decoding images (0 = one background thread of
            this process). Loaders run at a lower CPU priority than the forward pass.
        prefetch: batches each worker (or the thread) prepares ahead.
        device: ``cpu``, ``cuda``, ``cuda:1``… (the model is moved there).
        autocast: None, ``bfloat16`` or ``float16``: ``torch.autocast`` around the forward.
        resize: ``pil`` (timm's PIL resize + crop, bit for bit) or ``torch`` (torch's uint8
            antialiased resize: about 4x less CPU, pixels within 1 grey level of PIL's; see
            ``_preprocess``). Recorded in the manifest.
        jpeg_draft: None (full decode), or g >= 1: large JPEGs are decoded at 1/2, 1/4 or 1/8
            scale while the decoded shorter side stays >= g x the resize's (see
            ``_images.load_image``; pixels differ from a full decode's, noted per image).
        checkpoint: the resumable working directory; None → ``<out>.partial``.
        process_index, process_count: this process's share; None → :func:`process_split`.
        on_shard: called with the shard number after each shard is committed (on the
            background writer thread, in shard order).
        timings: when a dict, seconds per phase are added to it (see
            ``features._loader.PhaseClock``).

    Returns:
        The manifest when this process wrote the store, None when other processes' shards are
        still missing (the last process to finish merges).

    Raises:
        ValueError: empty folder, every image unreadable, bad option, stale multi-process
            checkpoint. NonFiniteActivationError: NaN/Inf activations (names the image).
    """
    _check_options(autocast, batch_size, shard_size, workers, prefetch, jpeg_draft)
    np_dtype = store_dtype(dtype)
    pixel_ops, mean, std = split_transform(lm.data_config, resize=resize)  # checks ``resize``
    if process_index is None or process_count is None:
        process_index, process_count = process_split()
    root, out = Path(image_root), Path(out)
    ckpt = Path(checkpoint) if checkpoint is not None else out.with_name(out.name + ".partial")
    records, listed_skips = list_images(root)
    num_classes = lm.head_weight.shape[0] if lm.head_weight is not None else lm.model.num_classes
    labels, class_names = label_indices([r.label_name for r in records], num_classes)
    settings = _settings(lm, dtype=dtype, shard_size=shard_size, batch_size=batch_size,
                         use_label_as_target=use_label_as_target, device=device,
                         autocast=autocast, resize=resize, jpeg_draft=jpeg_draft)
    _open_checkpoint(ckpt, _fingerprint(lm, records, settings), process_count)
    plan = _shard_plan(ckpt, len(records), shard_size, batch_size, process_index, process_count,
                       progress=progress)

    dev = torch.device(device)
    loader, nice = _open_loader(lm, records, plan.batches, pixel_ops, mean, std, dev,
                                workers=workers, prefetch=prefetch, jpeg_draft=jpeg_draft)
    lm.model.to(device=device, memory_format=torch.channels_last)  # in place: lm.trunk's modules
    amp = (torch.autocast(dev.type, dtype=AUTOCAST_DTYPES[autocast]) if autocast
           else contextlib.nullcontext())
    clock = PhaseClock(timings)
    spec = _RowSpec(records, labels, use_label_as_target, num_classes, np_dtype)
    _forward_shards(lm, loader, spec, plan, ckpt, shard_size=shard_size, dev=dev, mean=mean,
                    std=std, amp=amp, clock=clock, sync=timings is not None, nice=nice,
                    on_shard=on_shard, progress=progress)

    verified = set(range(plan.n_shards)) - set(plan.mine) - plan.done
    base = _manifest_base(lm, settings, num_classes=num_classes, class_names=class_names,
                          listed_skips=listed_skips)
    head = HeadParams(lm.head_weight, lm.head_bias) if lm.head_kind == "gap_linear" else None
    with clock("merge"):
        return _merge(ckpt, out, plan.n_shards, process_count, verified, root, base, head)


def _settings(lm: LoadedModel, *, dtype, shard_size, batch_size, use_label_as_target, device,
              autocast, resize, jpeg_draft) -> dict:
    """What the store's bytes depend on besides the model and the images (the checkpoint's
    fingerprint; the manifest records the preprocessing)."""
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in lm.data_config.items()}
    return {"preprocessing": cfg, "dtype": dtype, "shard_size": int(shard_size),
            "batch_size": int(batch_size), "use_label_as_target": bool(use_label_as_target),
            "device": str(torch.device(device)), "autocast": autocast,
            "resize": resize, "jpeg_draft": jpeg_draft}


class _ShardPlan(NamedTuple):
    """This process's shards: ``mine`` of ``n_shards``, those already ``done`` in the checkpoint
    (the forward adds each shard it commits) and the ``batches`` of record ids of the rest."""

    n_shards: int
    mine: range
    done: set
    batches: list


def _shard_plan(ckpt: Path, n_records: int, shard_size: int, batch_size: int,
                process_index: int, process_count: int, *, progress: bool) -> _ShardPlan:
    """This process's contiguous range of shards, less those the checkpoint already holds."""
    n_shards = math.ceil(n_records / shard_size)
    mine = range(process_index * n_shards // process_count,
                 (process_index + 1) * n_shards // process_count)
    done = {k for k in mine if _shard_ok(ckpt, k) is not None}
    todo = [k for k in mine if k not in done]
    if done and progress:
        tqdm.write(f"extract: resuming, {len(done)} of {len(mine)} shards already done "
                   f"in {str(ckpt)!r}")
    return _ShardPlan(n_shards, mine, done, _batches(todo, n_records, shard_size, batch_size))


def _open_loader(lm: LoadedModel, records, batches, pixel_ops, mean, std, dev, *, workers,
                 prefetch, jpeg_draft):
    """``(loader, nice)``: the decoded, resized batches (normalised by the loaders on CPU) and
    the niceness the loaders and the writer run at."""
    size = lm.data_config["input_size"][-1]
    crop_pct = float(lm.data_config.get("crop_pct") or 1.0)
    nice = _loader.LOADER_NICE if dev.type == "cpu" else 0  # loading yields to a CPU forward
    norm = (mean, std) if dev.type == "cpu" and mean is not None else None  # by the loaders
    loader = iter_batches(ImageDataset(records, pixel_ops, math.floor(size / crop_pct), norm,
                                       jpeg_draft), batches,
                          workers=int(workers), prefetch=int(prefetch),
                          pin_memory=dev.type == "cuda", nice=nice)
    return loader, nice


class _RowSpec(NamedTuple):
    """What turns a batch's forward outputs into store rows (:func:`batch_rows`' arguments after
    the batch's own)."""

    records: list
    labels: Any
    use_label_as_target: bool
    num_classes: int
    np_dtype: Any


def _forward_shards(lm: LoadedModel, loader, spec: _RowSpec, plan: _ShardPlan, ckpt: Path, *,
                    shard_size: int, dev, mean, std, amp, clock, sync: bool, nice: int,
                    on_shard, progress: bool) -> None:
    """Forward every batch of the loader and commit each shard once all its images are seen
    (on the background writer thread, in shard order)."""
    records = spec.records
    pending: dict[int, dict[str, Any]] = {}
    bar = tqdm(total=sum(len(b) for b in plan.batches), desc="extract", unit="img",
               disable=not progress)

    def commit(k, sh):
        with clock("to_numpy_and_checks"):  # on the writer thread, off the forward's path
            sh["rows"] = [rows() for rows in sh["rows"]]
        _commit(ckpt, k, sh)
        if on_shard is not None:
            on_shard(k)

    with (contextlib.closing(loader), second_openmp_team(dev.type == "cpu"),
          ShardWriter(commit, nice=nice) as writer):
        for meta, x in clock.timed(loader, "wait_for_input"):
            bar.update(len(meta))
            k = meta[0][0] // shard_size
            sh = pending.setdefault(k, {"rows": [], "images": [], "skipped": [], "seen": 0})
            sh["seen"] += len(meta)
            kept = _note_skips(meta, records, sh)
            clock.add_images(meta)
            if x is not None:
                with torch.inference_mode(), amp:
                    f, logits = _normalise_and_forward(lm, x, dev, mean, std, clock, sync=sync)
                sh["rows"].append(functools.partial(batch_rows, f, logits, kept, *spec))
                sh["images"] += _image_records(kept, records, spec.labels)
            end = min((k + 1) * shard_size, len(records))
            if sh["seen"] == end - k * shard_size:
                writer.submit(k, pending.pop(k))
                plan.done.add(k)
    clock.add_writer(writer)
    bar.close()


def _manifest_base(lm: LoadedModel, settings: dict, *, num_classes, class_names,
                   listed_skips) -> dict:
    """The manifest's fields that do not depend on the shards."""
    return {
        "format": FORMAT, "model": lm.name, "weights": lm.weights, "model_kwargs":
        lm.spec()["model_kwargs"], "rebuild": lm.spec(), "preprocessing": settings["preprocessing"],
        "image_size": int(lm.data_config["input_size"][-1]), "resize": settings["resize"],
        "jpeg_draft": settings["jpeg_draft"],
        "layer": lm.layer or "forward_features",
        "head": {"kind": lm.head_kind, "num_classes": int(num_classes)},
        "class_names": class_names,
        "use_label_as_target": settings["use_label_as_target"],
        "dtype": settings["dtype"], "listed_skips": listed_skips,
    }


def _check_options(autocast, batch_size, shard_size, workers, prefetch, jpeg_draft) -> None:
    if autocast not in AUTOCAST_DTYPES:
        raise ValueError(f"autocast={autocast!r}; valid choices: {list(AUTOCAST_DTYPES)}")
    for name, v, lo in (("batch_size", batch_size, 1), ("shard_size", shard_size, 1),
                        ("workers", workers, 0), ("prefetch", prefetch, 1)):
        if int(v) < lo:
            raise ValueError(f"{name}={v} should be >= {lo}")
    if jpeg_draft is not None and not float(jpeg_draft) >= 1:
        raise ValueError(f"jpeg_draft={jpeg_draft!r} should be None or >= 1")


def _batches(shards, n_records: int, shard_size: int, batch_size: int) -> list[list[int]]:
    """The image indices of each forward batch of ``shards``, in order. Batches never cross a
    shard: a shard's bytes depend only on its images."""
    batches = []
    for k in shards:
        end = min((k + 1) * shard_size, n_records)
        batches += [list(range(b, min(b + batch_size, end)))
                    for b in range(k * shard_size, end, batch_size)]
    return batches


def _note_skips(meta, records, sh: dict) -> list:
    """Warn about and record (in shard ``sh``) the batch's unreadable images; the others."""
    for i, reason, *_ in meta:
        if reason is not None:
            warnings.warn(f"skipping {records[i].rel}: {reason}", stacklevel=3)
            sh["skipped"].append({"path": records[i].rel, "reason": reason})
    return [m for m in meta if m[1] is None]


def _normalise_and_forward(lm: LoadedModel, x, dev, mean, std, clock, *, sync: bool):
    """A loaded batch on ``dev``, normalised (where the loaders did not), channels-last, and
    its forward: ``(features, logits)``. ``sync``: wait for a CUDA forward (phase timings)."""
    with clock("normalize"):
        x = normalize_batch(x.to(dev, non_blocking=True), mean, std)
        x = x.contiguous(memory_format=torch.channels_last)
    with clock("forward"):
        f, logits = forward_batch(lm, x)
        if dev.type == "cuda" and sync:
            torch.cuda.synchronize(dev)  # else the copy to the host waits
    return f, logits


def _image_records(kept, records, labels) -> list[dict]:
    """The manifest's record of each kept image (path, sha256, label, decoding notes)."""
    out = []
    for i, _, notes, sha, _ in kept:
        im = {"path": records[i].rel, "sha256": sha, "label": int(labels[i]),
              "label_name": records[i].label_name}
        out.append(dict(im, notes=notes) if notes else im)
    return out


def batch_rows(f, logits, kept, records, labels, use_label_as_target, num_classes, np_dtype):
    """One forwarded batch as the store's arrays (``activations`` in ``np_dtype``, ``logits``,
    ``target``, ``label``, ``pred``, ``prob``), checked finite (else
    :class:`NonFiniteActivationError` naming the images)."""
    a = f.float().cpu().numpy()
    finite = np.isfinite(a.reshape(len(a), -1)).all(1)
    if not finite.all():
        bad = [records[kept[i][0]].rel for i in np.flatnonzero(~finite)]
        raise NonFiniteActivationError(f"NaN or Inf in the activations of {bad}")
    z = logits.float().cpu().numpy()
    if not np.isfinite(z).all():
        bad = [records[kept[i][0]].rel for i in np.flatnonzero(~np.isfinite(z).all(1))]
        raise NonFiniteActivationError(f"NaN or Inf in the logits of {bad}")
    p = torch.softmax(torch.from_numpy(z), -1).numpy()
    pred = z.argmax(1).astype(np.int32)
    lab = np.array([labels[i] for i, *_ in kept], np.int32)
    target = np.where((lab >= 0) & use_label_as_target, lab, pred) if num_classes else pred
    return {"activations": a.astype(np_dtype, copy=False), "logits": z,  # no copy for float32
            "target": target.astype(np.int32), "label": lab, "pred": pred,
            "prob": p[np.arange(len(p)), pred].astype(np.float32)}


def _commit(ckpt: Path, k: int, sh: dict) -> None:
    """Write shard ``k``'s arrays, then its record (the record is the commit)."""
    rows = sum(len(r["pred"]) for r in sh["rows"])
    rec = {"shard": k, "rows": rows, "file": None, "sha256": None, "shape": None,
           "images": sh["images"], "skipped": sh["skipped"]}
    if rows:
        arrays = {f: np.concatenate([r[f] for r in sh["rows"]]) for f in sh["rows"][0]}
        rec["file"] = f"shard-{k:05d}.safetensors"
        rec["sha256"] = write_shard(ckpt / rec["file"], arrays)
        rec["shape"] = list(arrays["activations"].shape[1:])
    write_json(ckpt / f"shard-{k:05d}.json", rec)


def _merge(ckpt, out, n_shards, process_count, to_verify, root, base, head) -> dict | None:
    recs = []
    for k in range(n_shards):
        rec_path = ckpt / f"shard-{k:05d}.json"
        if not rec_path.is_file():
            return None  # another process's shards are still running; it will merge
        rec = _shard_ok(ckpt, k) if k in to_verify else json.loads(rec_path.read_text())
        if rec is None:
            rec_path.unlink(missing_ok=True)
            raise ValueError(f"shard {k} in {str(ckpt)!r} fails its checksum; rerun extraction "
                             "to redo it")
        recs.append(rec)
    try:
        (ckpt / "merging").mkdir()
    except FileExistsError:
        if process_count > 1:
            return None  # another process is merging
    except FileNotFoundError:
        return None  # another process merged and removed the checkpoint
    images, shards, skipped = [], [], list(base.pop("listed_skips"))
    for rec in recs:
        first = len(images)
        images += [dict(im, index=first + j) for j, im in enumerate(rec["images"])]
        skipped += rec["skipped"]
        if rec["rows"]:
            shards.append({"file": rec["file"], "rows": rec["rows"], "sha256": rec["sha256"],
                           "first_index": first})
    if not images:
        shutil.rmtree(ckpt / "merging")
        raise ValueError(f"none of the {len(skipped)} files under {str(root)!r} could be read "
                         f"(first: {skipped[:3]})")
    shape = next(r["shape"] for r in recs if r["rows"])
    manifest = dict(base, shape=shape, images=images, shards=shards, n_images=len(images),
                    skipped=sorted(skipped, key=lambda s: s["path"]))
    with atomic_dir(out) as tmp:
        for s in shards:
            try:
                os.link(ckpt / s["file"], tmp / s["file"])
            except OSError:
                shutil.copyfile(ckpt / s["file"], tmp / s["file"])
        if head is not None:
            write_head(tmp / "head.safetensors", head)
        write_json(tmp / "manifest.json", manifest)
    shutil.rmtree(ckpt, ignore_errors=True)
    return manifest
