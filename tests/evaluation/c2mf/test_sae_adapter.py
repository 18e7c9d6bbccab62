"""SAEs in the C2MF suite (evaluation/c2mf/_sae_adapter.py and the suite's SAE paths)."""

from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

from jaxconcepts.params import parse_section
from jaxconcepts.report import markdown_report
from jaxconcepts.runners import run_c2mf
from jaxconcepts.evaluation.c2mf._atlas import atlas_data
from jaxconcepts.evaluation.c2mf._host_head import affine_recon
from jaxconcepts.evaluation.c2mf._sae_adapter import SAE_METHODS, SAE_NAMES, SAEConcepts
from jaxconcepts.evaluation.c2mf._fit_evaluate import (
    CONTROLS,
    control_models,
    evaluate_controls,
    fit_method,
    fit_streamed,
)
from jaxconcepts.store import ActivationStore, HeadParams, StoreWriter
from tests.planted import Y, planted

REPO_C2MF = yaml.safe_load((Path(__file__).parents[3] / "params.yaml").read_text())["c2mf"]
SAE_KW = dict(sae_active=3, sae_epochs=100, sae_learning_rate=0.03, sae_sparsity=0.01)
N_IMG, C, HW = 24, 8, 2  # images (3 classes), channels, grid side


def test_the_suite_knows_every_sae_of_the_library():
    from jaxconcepts import sae

    from jaxconcepts.explorer._build import TITLES
    from jaxconcepts.report._c2mf import SAE_NAMES as REPORT_NAMES
    from jaxconcepts.viz._c2mf_figures import _NAMES

    assert SAE_METHODS == sae.METHODS
    # the names are spelled out where evaluation cannot be imported (figures, explorer, report)
    assert all(_NAMES[m] == TITLES[m] == SAE_NAMES[m] == REPORT_NAMES[m] for m in SAE_METHODS)
    assert list(REPORT_NAMES) == list(SAE_NAMES)
    assert all(f"random_{m}" in CONTROLS and CONTROLS[f"random_{m}"].own_concepts
               for m in SAE_METHODS)


@pytest.mark.slow  # an SAE fit (one compiled scan): about 2 s
def test_adapter_protocol_on_a_trained_toy():
    A, y, _, _ = planted(0, signed=False)  # rows use at most 3 of 5 non-negative atoms
    fit_kw = dict(alpha=0.0, max_steps=1, tol=0.0, learning_rate=0.1, nmf_max_iter=1)
    model = fit_method("topk", A, y, 5, key=jax.random.key(0), n_classes=Y, **fit_kw, **SAE_KW)
    assert isinstance(model, SAEConcepts) and model.n_dead == 0
    U = np.asarray(model.transform(A, y))
    assert U.shape == (len(A), 5) and U.min() >= 0 and ((U > 0).sum(1) <= 3).all()
    R = np.asarray(model.reconstruct(U, y))
    assert R.shape == A.shape
    r2 = 1 - ((A - R) ** 2).sum() / ((A - A.mean(0)) ** 2).sum()
    assert r2 > 0.9, r2
    concepts = np.asarray(model.concepts)  # one dictionary for every class, unit rows
    assert concepts.shape == (Y, 5, A.shape[1]) and (concepts == concepts[:1]).all()
    np.testing.assert_allclose(np.linalg.norm(concepts[0], axis=1), 1.0, atol=1e-5)
    M, b = affine_recon(model, Y, 5)  # the host (non-linear h) path reads it affinely
    np.testing.assert_allclose(M, np.broadcast_to(concepts[0], M.shape), atol=1e-5)
    np.testing.assert_allclose(b[0], np.asarray(model.sae.b_dec), atol=1e-5)
    with pytest.raises(ValueError, match="random_decoder=True is the SAEs' control"):
        fit_method("pca", A, y, 2, key=jax.random.key(0), n_classes=Y, random_decoder=True,
                   **fit_kw, **SAE_KW)
    with pytest.raises(ValueError, match="refit=None"):
        control_models("topk", model, key=jax.random.key(1))


def _store(root):
    """Class c lights up channels 2c, 2c+1 at one position of its 2x2 map, varying by image."""
    rng = np.random.default_rng(0)
    cls = np.repeat(np.arange(3), N_IMG // 3).astype(np.int32)
    A = 0.05 * rng.random((N_IMG, C, HW, HW)).astype(np.float32)
    for i, c in enumerate(cls):
        A[i, [2 * c, 2 * c + 1], i % HW, (i // HW) % HW] += 1.0 + rng.random(2)
    weight = np.zeros((3, C), np.float32)
    for c in range(3):
        weight[c, [2 * c, 2 * c + 1]] = 4.0
    logits = A.mean((2, 3)) @ weight.T
    pred = logits.argmax(1).astype(np.int32)
    with StoreWriter(root / "s", shard_size=10) as w:
        w.add(activations=A, logits=logits, target=pred, label=cls, pred=pred,
              prob=np.ones(N_IMG, np.float32), index=np.arange(N_IMG, dtype=np.int32))
        w.finish({"model": "fake", "shape": [C, HW, HW], "class_names": ["a", "b", "c"],
                  "images": [{"index": i, "path": f"img{i}.png", "label": int(cls[i])}
                             for i in range(N_IMG)],
                  "head": {"kind": "gap_linear", "num_classes": 3}},
                 HeadParams(weight, np.zeros(3, np.float32)))
    return ActivationStore(root / "s")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = _store(tmp_path_factory.mktemp("sae"))
    cfg = {**REPO_C2MF, "k": [3], "methods": ["topk"], "controls": [3], "seed": 0,
           "ig_steps": 2, "eval_batch": 8, "images_per_batch": 8, "craft_source": "rows",
           "atlas_k": None, "alpha_sweep": [], "init_rows": 512, "cache_mb": 1, **SAE_KW,
           "sae_epochs": 20}
    cfg = parse_section("c2mf", cfg)  # the runner takes the typed section
    return store, cfg, run_c2mf(store, cfg, dataset="fake", progress=False)


@pytest.mark.slow  # two streamed fits and two evaluations (compiles): about 7 s
def test_streamed_topk_runs_through_the_suite_with_its_random_decoder(run):
    store, cfg, (m, arrays, _, fits) = run
    e = m["results"]["topk"]["k3"]
    assert e["solver"]["n_dead"] == 0 and e["solver"]["width"] == 3
    assert e["solver"]["active"] == 3 and e["solver"]["epochs"] == 20
    assert 0.0 <= e["reconstruction"]["acc_pred_mean"] <= 1.0
    assert np.isfinite(e["insertion_deletion"]["insertion_ig_mean"])
    assert arrays["topk_k3_W"].shape == (3, C) and arrays["topk_k3_b_dec"].shape == (C,)
    ctl = m["controls"]["random_topk"]
    assert ctl["of"] == "topk" and ctl["label"] == "random (TopK SAE decoder)"
    # the trained dictionary reconstructs the test rows better than its random frozen decoder
    assert (ctl["results"]["k3"]["consistency"]["test_mse"]
            > 1.5 * e["consistency"]["test_mse"])
    # the random decoder is the fitted SAE's initial one, frozen: different atoms, same shape
    model = fits.get("topk", 3)
    rnd = fit_streamed("topk", fits.view, 3, key=jax.random.fold_in(fits.key, 3),
                       random_decoder=True, **{k: getattr(cfg, k) for k in _stream_keys()})
    assert rnd.W.shape == model.W.shape and not np.allclose(rnd.W, model.W)
    ev = evaluate_controls("topk", model, fits.view, store.head, key=jax.random.key(0),
                           ig_steps=2, eval_batch=8, refit=lambda: rnd)
    assert set(ev) == {"random_topk"} and ev["random_topk"]["similarity"] is not None


def _stream_keys():
    from jaxconcepts.evaluation.c2mf._fit_evaluate import STREAM_KEYS

    return STREAM_KEYS


@pytest.mark.slow  # the run fixture's fits
def test_report_and_atlas_show_the_sae(run):
    store, cfg, (m, _, _, fits) = run
    md = markdown_report(m)
    t1 = md.split("### Table 1")[1].split("### Table 2")[0]
    assert "| TopK SAE | 3 |" in t1 and "| random (TopK SAE decoder) | 3 |" in t1
    assert "| TopK SAE | 3 |" in md.split("### Table 3")[1].split("###")[0]
    assert "| TopK SAE | 3 | 3 | 0 / 3 | 20 |" in md.split("### SAEs — dead latents")[1]
    at = atlas_data(fits.get("topk", 3), "topk", fits.view, store.head, label_names=list("xyz"),
                    class_names=["a", "b", "c"], grid=(HW, HW), gate_threshold=0.5,
                    max_concepts=3, top=4, per_image=1, n_words=2, batch_images=8,
                    max_images=64)
    # one dictionary for every class, no gates: usage = the class's mean code / its largest
    assert at.shared and at.code_maps.shape[1] == 3 and at.labels == ["C0", "C1", "C2"]
    assert np.allclose(at.usage.max(1), 1.0) and (at.usage >= 0).all()
