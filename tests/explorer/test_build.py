"""Building the explorer from a toy dataset: files, chunks, notes, odd names, bad pictures."""

import json

from jaxconcepts.explorer import build_explorer

from tests.explorer.conftest import K, N, make_toy


def _read(path):
    text = path.read_text(encoding="ascii")
    assert text.startswith("JC_DATA(") and text.endswith(");\n")
    name, _, body = text[len("JC_DATA("):-3].partition(",")
    return json.loads(name), json.loads(body)


def test_build_writes_every_file_the_page_reads(toy, tmp_path):
    out = tmp_path / "explorer"
    out.mkdir()
    s = build_explorer(out, toy, chunk_size=5, thumb=16, workers=1, progress=False)
    assert s["images"] == N and s["chunks"] == 3
    name, meta = _read(out / "data" / "meta.js")
    assert name == "meta" and meta["n_images"] == N and meta["n_chunks"] == 3
    assert meta["images"]["name"][1] == "café ☕.png"
    # the missing and the corrupt pictures are named, with the reason; the others exist
    assert set(meta["missing"]) == {"5", "6"}
    assert "not found" in meta["missing"]["5"]
    for i in range(N):
        have = (out / "img" / f"{i}.jpg").is_file() and (out / "thumbs" / f"{i}.jpg").is_file()
        assert have == (str(i) not in meta["missing"])
    assert meta["suppress"]["computed"] and meta["ood"]["computed"]
    assert set(meta["dictionaries"]) == {"c2mf", "craft"}
    rows = {}
    for c in range(3):
        _, chunk = _read(out / "data" / f"chunk-{c:05d}.js")
        rows.update(chunk)
    assert sorted(map(int, rows)) == list(range(N))
    rec = rows["0"]
    assert len(rec["m"]["cgap"]) <= K and rec["m"]["cgap"][0]["imp"] >= rec["m"]["cgap"][-1]["imp"]
    assert {"c2mf", "craft"} <= set(rec["codes"]) and "logits" in rec
    assert len(rec["ood"]["crops"]) == 2
    assert rec["codes"]["craft"]["g0"] == 0 and rows["1"]["codes"]["craft"]["g0"] == 4
    _, d = _read(out / "data" / "dict-c2mf.js")
    assert d["n_concepts"] == 4 and len(d["top"]) == 4 and d["contrib"] and "craft" in d["nearest"]
    assert d["importance"][0] > 0  # concept 0 carries image 0's prediction
    for f in ("index.html", "assets/explorer.js", "assets/explorer.css"):
        assert (out / f).is_file()
    assert s["first_view_bytes"] < 2_000_000


def test_views_not_computed_say_why(tmp_path):
    inp = make_toy(tmp_path / "toy", with_dictionaries=False)
    inp.concepts = None
    inp.notes = dict(inp.notes, clustering="the concepts stage is off for this dataset")
    inp.crop_msp = inp.crop_pred = None
    out = tmp_path / "explorer"
    out.mkdir()
    build_explorer(out, inp, chunk_size=100, thumb=16, workers=1, progress=False)
    meta = json.loads((out / "data" / "meta.js").read_text()[len('JC_DATA("meta",'):-3])
    assert meta["methods"]["cgap"] == {"computed": False, "title": "CGAP",
                                       "note": "the concepts stage is off for this dataset"}
    assert meta["dictionaries"] == {"_note": "c2mf.enabled is false for this dataset"}
    assert not meta["suppress"]["computed"] and "no dictionary" in meta["suppress"]["note"]
    assert not meta["ood"]["computed"]


def test_another_dictionary_method_is_another_tab(toy):
    """An SAE (the c2mf stage's atlas file holds one per method): shared, no gates."""
    from jaxconcepts.explorer._build import dictionary_payload

    sae, _ = dictionary_payload(toy.atlases[0]._replace(method="topk"), toy)
    assert sae["title"] == "TopK SAE" and sae["shared"] and not sae["gated"]
    assert sae["n_concepts"] == toy.atlases[0].k
    c2mf, _ = dictionary_payload(toy.atlases[0], toy)
    assert c2mf["gated"] and not dictionary_payload(toy.atlases[1], toy)[0]["gated"]
