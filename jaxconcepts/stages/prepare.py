"""Stage ``prepare``: put the dataset's images in ``data/<ds>/images``.

``prepare.source`` chooses where they come from:

- ``packages`` (the embedded default): real photos that ship inside installed packages —
  scikit-image's ``data`` folder, scikit-learn's sample images and matplotlib's sample data —
  copied byte for byte. Only files present on disk are used; nothing is downloaded.
- ``folder``: copy a user's folder (``prepare.folder``, flat or ``<class>/<image>``); with
  ``prepare.classes`` only those class sub-folders (e.g. the paper's 11 ImageNet synsets).
- ``objects``: the real-photo benchmark (:mod:`jaxconcepts.datasets._objects`, params section
  ``objects``): objects cut out of shipped photos by hand-drawn polygons, pasted at random
  position, scale and flip onto shipped textures and photo backgrounds; images in
  ``data/<ds>/images/<class>/`` and each object's mask and box in ``data/<ds>/prepare/truth/``
  (planted's layout, one "part" per object class).
- ``planted``: the generated planted-concept dataset (:mod:`jaxconcepts.datasets`, params section
  ``planted``): the test split in ``data/<ds>/images/<class>/``, the train and val splits in
  ``data/<ds>/prepare/{train,val}/`` (the ``train`` stage's input), and the ground truth in
  ``data/<ds>/prepare/truth/``.

Besides ``data/<ds>/images`` it writes ``data/<ds>/prepare/`` (for ``packages``/``folder``: a
``sources.json`` with each image's origin and sha256; for ``planted``: splits and ground truth).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from jaxconcepts._io import atomic_dir, sha256_file, write_json
from jaxconcepts.features._images import ImageLoadError, list_images, load_rgb
from jaxconcepts.stages._common import dataset_dir, stage_config, stage_parser
from jaxconcepts.stages._generated import write_objects_dataset, write_planted_dataset

__all__ = ["packaged_photos", "copy_photos", "main"]

# (package, relative path inside the package) of real photographs; test patterns, text and
# synthetic images are left out.
_SKIMAGE = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg", "coins.png",
            "moon.png", "motorcycle_left.png", "hubble_deep_field.jpg", "ihc.png", "retina.jpg",
            "grass.png", "gravel.png", "brick.png"]
_SKLEARN = ["china.jpg", "flower.jpg"]
_MATPLOTLIB = ["grace_hopper.jpg"]


def packaged_photos() -> list[tuple[str, Path]]:
    """(name, path) of the photos that ship in installed packages and exist on disk."""
    import matplotlib
    import skimage.data
    import sklearn.datasets

    roots = [
        ("skimage", Path(skimage.data.__file__).parent, _SKIMAGE),
        ("sklearn", Path(sklearn.datasets.__file__).parent / "images", _SKLEARN),
        ("matplotlib", Path(matplotlib.get_data_path()) / "sample_data", _MATPLOTLIB),
    ]
    out = []
    for pkg, root, names in roots:
        for n in names:
            p = root / n
            if p.is_file():
                out.append((f"{pkg}-{n}", p))
            else:
                warnings.warn(f"{pkg} does not ship {n} in this version; left out", stacklevel=2)
    return out


def copy_photos(photos: list[tuple[str, Path]], out: Path) -> list[dict]:
    """Copy readable photos into ``out`` atomically; return ``{name, source, sha256}`` of each."""
    written = []
    with atomic_dir(out) as tmp:
        for name, src in photos:
            try:
                load_rgb(src)
            except ImageLoadError as e:
                warnings.warn(f"leaving out {src}: {e}", stacklevel=2)
                continue
            dst = tmp / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            written.append({"name": name, "source": str(src), "sha256": sha256_file(dst)})
        if not written:
            raise ValueError("no readable photos found")
    return written


def main(argv: list[str] | None = None) -> None:
    args = stage_parser(__doc__.splitlines()[0]).parse_args(argv)
    p = stage_config(args, "prepare")
    out = dataset_dir(args.dataset, "images")
    if p.source == "planted":
        write_planted_dataset(args)
        return
    if p.source == "objects":
        write_objects_dataset(args)
        return
    if p.source == "packages":
        names = copy_photos(packaged_photos(), out)
    else:  # folder (the schema allows no other source)
        records, _ = list_images(p.folder)
        root = Path(p.folder)
        if p.classes:
            present = {r.label_name for r in records}
            missing = sorted(set(p.classes) - present)
            if missing:
                raise ValueError(
                    f"prepare.classes {missing} are not sub-folders of {p.folder!r} "
                    f"(it has {len(present)} classes, e.g. {sorted(present - {None})[:5]})"
                )
            records = [r for r in records if r.label_name in set(p.classes)]
        names = copy_photos([(str(r.path.relative_to(root)), r.path) for r in records], out)
    # provenance of every image (the `prepare` output beside `images`, for every dataset)
    write_json(dataset_dir(args.dataset, "prepare") / "sources.json",
               {"source": p.source,
                "images": [dict(n, source=_portable(n["source"])) for n in names]})
    print(f"prepare: wrote {len(names)} images to {out}")


def _portable(path: str) -> str:
    """A source path without the machine-specific prefix up to site-packages."""
    marker = "site-packages/"
    return path.split(marker, 1)[1] if marker in path else path


if __name__ == "__main__":
    main()
