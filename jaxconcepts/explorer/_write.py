"""The explorer's folder: the page, its scripts, data chunks and pictures, written atomically.

Layout of ``<out>/`` (everything relative, so it opens from ``file://`` with no server):

- ``index.html``, ``assets/explorer.js``, ``assets/explorer.css`` (copied from the package);
- ``data/meta.js``: the first view (dataset, image table, classes, methods, search index);
- ``data/chunk-NNNNN.js``: per-image details (maps, importance, codes, logits, crops' confidence),
  ``chunk_size`` images each, loaded when an image of the chunk is opened;
- ``data/dict-<method>.js``: one dictionary method (names, gates, top images, nearest concepts in
  the other methods, the logit change per concept for suppression), loaded when first used;
- ``img/<index>.jpg`` (the image as the model saw it) and ``thumbs/<index>.jpg``: files are named
  by the store's image index, never by the image's own name, so any name loads.

Data files are scripts calling ``JC_DATA(name, payload)``: browsers refuse ``fetch`` from
``file://``, not ``<script src>``. JSON is written ASCII-only (names with any character survive
any page encoding).
"""

from __future__ import annotations

import json
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["ExplorerWriter", "ASSETS", "data_script", "picture_pool", "write_pictures"]

ASSETS = Path(__file__).with_name("assets")


def data_script(name: str, payload: Any) -> str:
    """The text of a data file: one ``JC_DATA`` call (NaN refused)."""
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    return f"JC_DATA({json.dumps(name)},{body});\n"


def write_pictures(job) -> tuple[int, str | None]:
    """Write one image's model view and thumbnail; ``(index, None)`` or ``(index, reason)``
    when the file is missing or unreadable (the page names it)."""
    from PIL import Image

    from jaxconcepts.viz._image import load_model_view

    index, path, prep, folder, thumb, quality = job
    try:
        view = load_model_view(path, prep)
    except Exception as e:  # missing, truncated or not an image: named on the page
        return index, f"{type(e).__name__}: {e}".replace(str(path), Path(path).name)
    im = Image.fromarray(view)
    im.save(Path(folder) / "img" / f"{index}.jpg", quality=quality)
    im.thumbnail((thumb, thumb))
    im.save(Path(folder) / "thumbs" / f"{index}.jpg", quality=quality)
    return index, None


class ExplorerWriter:
    """Streams image records into chunk files and pictures into ``img/`` / ``thumbs/``.

    Records arrive in image-table order (row ``r`` goes to chunk ``r // chunk_size``); a chunk is
    written as soon as it is full, so memory holds one chunk. ``pool``: an executor drawing the
    pictures (None: here).
    """

    def __init__(self, folder: Path, *, chunk_size: int, thumb: int, quality: int = 85,
                 pool: Executor | None = None):
        if chunk_size < 1 or thumb < 8:
            raise ValueError(f"chunk_size={chunk_size} should be >= 1 and thumb={thumb} >= 8")
        self.folder, self.chunk_size, self.thumb, self.quality = Path(folder), chunk_size, thumb, \
            quality
        for sub in ("data", "img", "thumbs", "assets"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.pool, self._futures, self._chunk, self._rows = pool, [], {}, 0
        self.n_chunks, self.bytes_written = 0, 0

    def add(self, record: dict, *, path: str, preprocessing: dict) -> None:
        """One image's record (its ``i`` is the store index) and its picture job."""
        job = (int(record["i"]), str(path), preprocessing, str(self.folder), self.thumb,
               self.quality)
        self._futures.append(self.pool.submit(write_pictures, job) if self.pool else
                             _Done(write_pictures(job)))
        self._chunk[str(self._rows)] = record
        self._rows += 1
        if len(self._chunk) == self.chunk_size:
            self._flush()

    def write_data(self, name: str, payload: Any) -> None:
        text = data_script(name, payload)
        (self.folder / "data" / f"{name}.js").write_text(text, encoding="ascii")
        self.bytes_written += len(text)

    def _flush(self) -> None:
        if self._chunk:
            self.write_data(f"chunk-{self.n_chunks:05d}", self._chunk)
            self.n_chunks += 1
            self._chunk = {}

    def finish(self, meta: dict) -> dict[int, str]:
        """Write the last chunk, wait for the pictures, write ``meta.js`` (with ``missing``: the
        images whose picture could not be made, and why) and copy the page. Returns missing."""
        self._flush()
        missing = {}
        for f in self._futures:
            index, reason = f.result()
            if reason:
                missing[index] = reason
        meta = dict(meta, chunk_size=self.chunk_size, n_chunks=self.n_chunks,
                    missing={str(i): r for i, r in sorted(missing.items())})
        self.write_data("meta", meta)
        for name in ("explorer.js", "explorer.css"):
            (self.folder / "assets" / name).write_bytes((ASSETS / name).read_bytes())
        (self.folder / "index.html").write_bytes((ASSETS / "index.html").read_bytes())
        return missing


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def picture_pool(workers: int, n_images: int) -> Executor | None:
    """A process pool for the pictures (PIL holds one core each), or None for few images."""
    if workers <= 1 or n_images < 64:
        return None
    import multiprocessing

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
