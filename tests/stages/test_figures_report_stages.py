"""End to end on a tiny synthetic store: importance -> figures -> report; every link exists."""

import contextlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxconcepts._parts import write_part
from jaxconcepts.concepts import load_concepts
from jaxconcepts.store import ActivationStore, HeadParams, StoreWriter
from jaxconcepts.importance import concept_importance, load_importance
from jaxconcepts.viz import report_links
from tests._params import write_params

C, H, W, K, S, NCLS = 6, 2, 2, 3, 2, 5


def _make_dataset(root: Path, ds: str, rng, *, relative: bool = False) -> None:
    """A toy store; ``relative`` records image paths relative to ``data/<ds>/images`` in a
    format-2 manifest, as ``extract`` writes them (else cwd-relative paths, format 1)."""
    img_dir = root / "data" / ds / "images"
    img_dir.mkdir(parents=True)
    n = 3
    a = np.maximum(rng.normal(size=(n, C, H, W)), 0).astype(np.float32)
    a[2] = 0.0  # a degenerate image: all activations zero
    weight = rng.normal(size=(NCLS, C)).astype(np.float32)
    bias = rng.normal(size=NCLS).astype(np.float32)
    logits = a.mean((2, 3)) @ weight.T + bias
    pred = logits.argmax(1).astype(np.int32)
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob = (prob / prob.sum(1, keepdims=True))[np.arange(n), pred]
    images = []
    for i in range(n):
        p = img_dir / f"im{i}.png"
        Image.fromarray(rng.integers(0, 255, size=(20 + 5 * i, 24, 3), dtype=np.uint8)).save(p)
        images.append(
            {
                "index": i,
                "path": str(p.relative_to(img_dir if relative else root)),
                "sha256": "x",
                "label": -1,
                "label_name": None,
            }
        )
    with StoreWriter(root / "data" / ds / "activations", shard_size=2) as wr:
        wr.add(
            activations=a,
            logits=logits,
            target=pred,
            label=np.full(n, -1),
            pred=pred,
            prob=prob,
            index=np.arange(n),
        )
        wr.finish(
            {
                "model": "toy",
                "weights": {"source": "random", "path": None, "sha256": None},
                "preprocessing": {
                    "input_size": [3, 16, 16],
                    "crop_pct": 0.875,
                    "interpolation": "bilinear",
                },
                "image_size": 16,
                "layer": "forward_features",
                "shape": [C, H, W],
                "images": images,
                "skipped": [
                    {"path": "data/toy/images/broken.jpg", "reason": "cannot identify image"}
                ],
                "head": {"kind": "gap_linear", "num_classes": NCLS},
                "class_names": ["ant", "bee", "cat", "dog", "eel"],
                **({"format": 2} if relative else {}),
            },
            HeadParams(weight, bias),
        )
    arrays = {"index": np.arange(n, dtype=np.int32)}
    for m in ("cgap", "cpha"):
        lab = rng.integers(0, K, size=(n, C)).astype(np.int32)
        lab[0, :] = np.array([0, 0, 1, 1, 2, 2])
        lab[1] = np.where(lab[1] == 2, 1, lab[1])  # image 1: fewer than K concepts
        lab[2] = -1  # image 2: all zero
        sub = np.where(lab >= 0, rng.integers(0, S, size=(n, C)), -1).astype(np.int32)
        arrays.update(
            {
                f"{m}_labels": lab,
                f"{m}_sub_labels": sub,
                f"{m}_n_concepts": np.array([3, len(np.unique(lab[1])), 0], np.int32),
                f"{m}_flags": np.array([0, 1, 3], np.int32),
                f"{m}_metrics": np.zeros((n, 3), np.float32),
            }
        )
    write_part(root / "data" / ds / "concepts", arrays, {}, process_index=0, process_count=1,
               store_images=n)


_READS: list | None = None


def _audit(event, args):
    if _READS is not None and event == "open" and isinstance(args[0], (str, bytes, Path)):
        mode, flags = args[1], args[2] or 0
        reading = (("r" in mode and "+" not in mode) if mode
                   else not flags & (os.O_WRONLY | os.O_RDWR))
        if reading:
            _READS.append(Path(os.fsdecode(args[0])).resolve())


sys.addaudithook(_audit)


@contextlib.contextmanager
def _reads():
    """The files opened for reading inside the block (an audit hook: every ``open``)."""
    global _READS
    _READS = []
    try:
        yield _READS
    finally:
        _READS = None


@pytest.fixture
def project(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    _make_dataset(tmp_path, "toy", rng)
    (tmp_path / "reports" / "toy").mkdir(parents=True)
    (tmp_path / "reports" / "toy" / "compare.md").write_text(
        "| method | silhouette |\n|---|---|\n| cgap | 0.40 |\n| cpha | 0.55 |\n"
    )
    (tmp_path / "reports" / "toy" / "recovery.md").write_text(
        "| metric | value |\n|---|---|\n| ARI | 0.9 |\n"
    )
    params = {
        "datasets": {"toy": {}, "empty": {}},
        "concepts": {"n_concepts": K, "n_sub_concepts": S},
        "importance": {"target": "pred", "batch_size": 2},
        "figures": {"max_images": 2, "dpi": 40},
        "report": {"title": "Toy report"},
    }
    write_params(tmp_path / "params.yaml", **params)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_pipeline_importance_figures_report(project):
    from jaxconcepts.stages import explore, figures, importance, report

    importance.main(["--dataset", "toy"])
    assert os.listdir("data/toy/importance") == ["part-00000-of-00001.safetensors"]
    arrays = load_importance("data/toy/importance").arrays
    assert arrays["cgap_importance"].shape == (3, K) and arrays["cgap_sub_importance"].shape == (
        3,
        K,
        S,
    )
    store = ActivationStore("data/toy/activations")
    conc = load_concepts("data/toy/concepts").arrays
    b = next(store.iter_batches(3))
    ref = concept_importance(
        b.activations,
        conc["cpha_labels"],
        conc["cpha_sub_labels"],
        b.pred,
        head=store.head,
        n_concepts=K,
        n_sub=S,
    )
    np.testing.assert_allclose(arrays["cpha_importance"], ref.importance, rtol=1e-6)
    np.testing.assert_array_equal(arrays["cpha_importance"][2], 0.0)  # no concept at all
    summary = json.loads(Path("reports/toy/importance.json").read_text())
    assert summary["n_images"] == 3 and summary["cgap"]["n_images_without_concepts"] == 1
    # target "label" falls back to the prediction for unlabelled images
    from jaxconcepts.runners import run_importance

    lab_arrays, lab_stats = run_importance(  # the library function (runners/_importance.py)
        store,
        conc,
        head=store.head,
        n_concepts=K,
        n_sub=S,
        target="label",
        batch_size=2,
        min_p=None,
        progress=False,
    )
    assert lab_stats["label_fallback_to_pred"] == 3
    np.testing.assert_array_equal(lab_arrays["target"], store.read("pred"))

    figures.main(["--dataset", "toy"])
    fj = json.loads(Path("reports/toy/figures/figures.json").read_text())
    assert [bool(e["files"]) for e in fj["images"]] == [True, True, False]
    assert fj["images"][0]["pred_name"] in ["ant", "bee", "cat", "dog", "eel"]
    assert any("fewer than 3 concepts" in f for f in fj["images"][1]["flags"])

    explore.main(["--dataset", "toy"])  # the concept explorer, linked from the report
    meta = Path("reports/toy/explorer/data/meta.js").read_text()
    assert '"n_images":3' in meta and "no atlas at data/toy/c2mf" in meta
    assert "no crop store at data/toy/crops" in meta
    assert Path("reports/toy/explorer/img/0.jpg").is_file()

    with _reads() as read:
        report.main(["--dataset", "toy"])
    page = Path("reports/toy.html").read_text()
    # the report reads only what dvc.yaml declares: reports/toy/, the manifest and params.yaml
    root = Path.cwd().resolve()
    inside = [p.relative_to(root).as_posix() for p in read if p.is_relative_to(root)]
    assert inside and all(
        p.startswith("reports/toy/") or p in ("data/toy/activations/manifest.json", "params.yaml")
        for p in inside), [p for p in inside if not p.startswith("reports/toy/")]
    links = report_links(page)
    imgs = [l for l in links if not l.startswith("#") and not l.endswith(".html")]
    assert len(imgs) == 2 * 5  # 2 drawn images x (2 method rows + 2 sub-concept figures + compare)
    for link in imgs:
        assert (Path("reports") / link).is_file(), link
    for link in [l for l in links if l.startswith("#")]:
        assert f'id="{link[1:]}"' in page
    assert [l for l in links if l.endswith(".html")] == [
        "index.html", "toy.html", "empty.html", "scoreboard.html", "toy/explorer/index.html"]
    assert "http" not in page
    assert (
        "all activations are zero" in page
    )  # the degenerate image still has a row, with its reason
    assert "fewer than 3 concepts" in page
    assert "<td>0.55</td>" in page and "<td>0.9</td>" in page  # compare.md and any other .md table
    assert page.index("compare.md") < page.index("recovery.md")
    assert "broken.jpg" in page
    report.main(["--dataset", "empty"])
    assert "no figures at" in Path("reports/empty.html").read_text()
    assert "no concept explorer at reports/empty/explorer" in Path("reports/empty.html").read_text()
    report.main(["--index"])
    index = Path("reports/index.html").read_text()
    assert report_links(index) == ["toy.html", "empty.html", "scoreboard.html",
                                   "toy/explorer/index.html", "empty/explorer/index.html"]
    assert "Toy report" in index
    with pytest.raises(SystemExit):
        report.main([])  # neither --dataset nor --index

    # a missing figure makes the stage fail instead of writing a broken report
    Path("reports", imgs[0]).unlink()
    with pytest.raises(FileNotFoundError, match="missing files"):
        report.main(["--dataset", "toy"])


def test_importance_stage_bad_input(project):
    from jaxconcepts.stages import importance

    Path("data/toy/concepts/part-00000-of-00001.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no concepts parts.*run `jaxconcepts concepts"):
        importance.main(["--dataset", "toy"])
    write_params("params.yaml", base="params.yaml", importance={"target": "best"})
    rng = np.random.default_rng(1)
    write_part(
        "data/toy/concepts",
        {
            "index": np.arange(3, dtype=np.int32),
            **{
                f"{m}_{f}": rng.integers(0, 2, size=(3, C)).astype(np.int32)
                for m in ("cgap", "cpha")
                for f in ("labels", "sub_labels")
            },
        },
        {},
        process_index=0,
        process_count=1,
        store_images=3,
    )
    with pytest.raises(ValueError, match="importance.target='best'"):
        importance.main(["--dataset", "toy"])


@pytest.mark.slow
def test_figures_drawn_from_dataset_relative_paths(tmp_path, monkeypatch):
    """The store ``extract`` writes records paths relative to the dataset's image folder: the
    figures stage draws them (it drew none from a cwd-relative check), and a store whose
    images are all gone is an error naming the fix, not an empty gallery."""
    from jaxconcepts.stages import figures, importance

    _make_dataset(tmp_path, "toy", np.random.default_rng(0), relative=True)
    write_params(tmp_path / "params.yaml", datasets={"toy": {}},
                 concepts={"n_concepts": K, "n_sub_concepts": S},
                 importance={"target": "pred", "batch_size": 2},
                 figures={"max_images": 2, "dpi": 40})
    monkeypatch.chdir(tmp_path)
    manifest = json.loads(Path("data/toy/activations/manifest.json").read_text())
    assert manifest["format"] == 2 and manifest["images"][0]["path"] == "im0.png"
    importance.main(["--dataset", "toy"])
    figures.main(["--dataset", "toy"])
    fj = json.loads(Path("reports/toy/figures/figures.json").read_text())
    assert [bool(e["files"]) for e in fj["images"]] == [True, True, False]
    for e in fj["images"][:2]:
        assert set(e["files"]) == {"cgap", "cgap_sub", "cpha", "cpha_sub", "compare"}
        for name in e["files"].values():
            assert Path("reports/toy/figures", name).stat().st_size > 1000
    assert fj["images"][0]["rel"] == "im0.png"

    for f in Path("data/toy/images").iterdir():
        f.unlink()
    with pytest.raises(FileNotFoundError, match="none of the 2 images picked.*run `prepare`"):
        figures.main(["--dataset", "toy"])
    assert Path("reports/toy/figures/00000_cgap.png").is_file()  # the last good output is kept
