"""End to end on a tiny synthetic store: importance -> figures -> report; every link exists."""

import contextlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxconcepts.concepts import load_concepts
from jaxconcepts.store import ActivationStore
from jaxconcepts.importance import concept_importance, load_importance
from jaxconcepts.viz import report_links

from tests.stages._toy import K, S


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
