"""Stage ``prepare``: put the dataset's images in ``data/<ds>/images``.

``prepare.source`` chooses where they come from:

- ``packages`` (the embedded default): real photos that ship inside installed packages —
  scikit-image's ``data`` folder, scikit-learn's sample images and matplotlib's sample data —
  copied byte for byte. Only files present on disk are used; nothing is downloaded.
- ``folder``: copy a user's folder (``prepare.folder``, flat or ``<class>/<image>``); with
  ``prepare.classes`` only those class sub-folders (e.g. the paper's 11 ImageNet synsets).
- ``planted``: the generated planted-concept dataset (``jaxconcepts.stages.planted``).

Besides ``data/<ds>/images`` it writes ``data/<ds>/prepare/`` (for ``packages``/``folder``: a
``sources.json`` with each image's origin and sha256; for ``planted``: splits and ground truth).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from jaxconcepts._io import atomic_dir, sha256_file, write_json
from jaxconcepts.features._images import ImageLoadError, list_images, load_rgb
from jaxconcepts.stages._common import dataset_dir, dataset_params, load_params, stage_parser

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
    p = dataset_params(load_params(args.params), args.dataset)["prepare"]
    out = dataset_dir(args.dataset, "images")
    source = p.get("source", "packages")
    if source == "packages":
        names = copy_photos(packaged_photos(), out)
    elif source == "folder":
        folder = p.get("folder")
        if not folder:
            raise ValueError("prepare.source='folder' needs prepare.folder (a path) in params.yaml")
        records, _ = list_images(folder)
        root = Path(folder)
        classes = p.get("classes")
        if classes:
            present = {r.label_name for r in records}
            missing = sorted(set(classes) - present)
            if missing:
                raise ValueError(
                    f"prepare.classes {missing} are not sub-folders of {folder!r} "
                    f"(it has {len(present)} classes, e.g. {sorted(present - {None})[:5]})"
                )
            records = [r for r in records if r.label_name in set(classes)]
        names = copy_photos([(str(r.path.relative_to(root)), r.path) for r in records], out)
    elif source == "planted":
        from jaxconcepts.stages import planted

        planted.main(["--params", args.params, "--dataset", args.dataset])
        return
    else:
        raise ValueError(f"prepare.source={source!r}; valid choices: 'packages', 'folder', 'planted'")
    # provenance of every image (the `prepare` output beside `images`, for every dataset)
    write_json(dataset_dir(args.dataset, "prepare") / "sources.json",
               {"source": source, "images": [dict(n, source=_portable(n["source"])) for n in names]})
    print(f"prepare: wrote {len(names)} images to {out}")


def _portable(path: str) -> str:
    """A source path without the machine-specific prefix up to site-packages."""
    marker = "site-packages/"
    return path.split(marker, 1)[1] if marker in path else path


if __name__ == "__main__":
    main()
