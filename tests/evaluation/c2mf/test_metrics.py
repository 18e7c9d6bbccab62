import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconcepts.concepts._c2mf import C2MF
from jaxconcepts.concepts._pca_baseline import fit_pca_baseline
from jaxconcepts.evaluation import (
    ClassMSE,
    concept_similarity,
    consistency,
    insertion_deletion,
    model_insertion_deletion,
    per_class_accuracy,
    reconstructed_predictions,
    reconstruction_accuracy,
)

from tests.planted import K, Y, planted

P = 4  # rows (spatial positions) per image


def _setup(seed=0):
    A, y, U, W = planted(seed, noise=0.0)
    rng = np.random.default_rng(seed)
    logits = jnp.asarray(rng.normal(size=(Y, K)), jnp.float32)
    model = C2MF(jnp.asarray(W), logits, 1.0, np.zeros(0), 0, True)
    head_w = jnp.asarray(rng.normal(size=(Y, W.shape[1])), jnp.float32)
    h = lambda rows: rows.mean(0) @ head_w.T  # noqa: E731  GAP + linear
    return model, h, U, W


@pytest.mark.slow
def test_similarity_hand_cases_and_pca_is_orthogonal():
    s = concept_similarity(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    assert s["cosine_mean"] == 0.0 and s["n_pairs"] == 2
    np.testing.assert_allclose(s["pearson_mean"], 0.5, atol=1e-6)  # centred: (2,-1,-1)·(-1,2,-1)/6
    same = concept_similarity(np.ones((3, 5)) * np.arange(1, 6))
    np.testing.assert_allclose([same["cosine_mean"], same["pearson_mean"]], 1.0, atol=1e-6)
    A, y, _, _ = planted(0, noise=0.05)
    pca = concept_similarity(fit_pca_baseline(A, y, 3).concepts)
    assert pca["cosine_mean"] < 1e-5 and pca["n_pairs"] == Y * 6


@pytest.mark.slow
def test_insertion_deletion_curves_endpoints_and_order():
    model, h, U, _ = _setup()
    recon = lambda V, c: model.reconstruct(V, jnp.full((V.shape[0],), c))  # noqa: E731
    B = 6
    Ub = jnp.asarray(U[: B * P].reshape(B, P, K))
    cls = jnp.arange(B) % Y
    full = jax.vmap(lambda u, c: jax.nn.softmax(h(recon(u, c)))[c])(Ub, cls)
    zero = jax.vmap(lambda u, c: jax.nn.softmax(h(recon(0 * u, c)))[c])(Ub, cls)
    for method in ("gradcam", "ig"):
        r = insertion_deletion(Ub, cls, cls, recon, h, method=method, n_steps=16)
        assert r.insertion.shape == (B, K + 1)
        np.testing.assert_allclose(np.asarray(r.insertion[:, -1]), np.asarray(full), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(r.deletion[:, 0]), np.asarray(full), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(r.insertion[:, 0]), np.asarray(zero), rtol=1e-5)
        assert np.all((np.asarray(r.insertion_auc) >= 0) & (np.asarray(r.insertion_auc) <= 1))
    # with a linear head, the first inserted concept (largest positive IG) raises the target logit
    r = insertion_deletion(Ub, cls, cls, recon, h, method="ig", n_steps=16)
    assert np.mean(np.asarray(r.insertion_auc) >= np.asarray(r.deletion_auc)) >= 0.5


def test_reconstruction_accuracy_and_consistency_on_exact_model():
    model, h, U, W = _setup()
    B = 30
    A_rows = (U[: B * P] * np.asarray(model.gates)[np.repeat(np.arange(B) % Y, P)]) @ W
    A_img = jnp.asarray(A_rows.reshape(B, P, -1))
    yb = np.arange(B) % Y
    pred = np.asarray(jnp.argmax(jax.vmap(h)(A_img), -1))
    out = reconstruction_accuracy(model, A_img, yb, yb, pred, h, n_classes=Y)
    assert out["acc_pred_mean"] == 1.0 and out["acc_pred_std"] == 0.0  # exact codes: same decisions
    expected = np.array([(pred[yb == c] == c).mean() for c in range(Y)])
    np.testing.assert_allclose(out["acc_label"], expected)
    rows_y = np.repeat(yb, P)
    c = consistency(model, A_rows, rows_y, A_rows, rows_y)
    assert c["train_mse"] < 1e-8 and c["difference"] == 0.0


class _Head:
    def __init__(self, weight):
        self.weight, self.bias = weight, jnp.zeros(weight.shape[0])


@pytest.mark.slow
def test_model_insertion_deletion_matches_closure_and_compiles_once_per_shape():
    """The model is a traced argument: a second model of the same shape reuses the program."""
    model, h, U, W = _setup()
    head = _Head(jnp.asarray(np.random.default_rng(0).normal(size=(Y, W.shape[1])), jnp.float32))
    h = lambda rows: rows.mean(0) @ head.weight.T  # noqa: E731
    recon = lambda V, c: model.reconstruct(V, jnp.full((V.shape[0],), c))  # noqa: E731
    B = 4
    Ub = jnp.asarray(U[: B * P].reshape(B, P, K))
    cls = jnp.arange(B) % Y
    gc, ig = model_insertion_deletion(model, head, Ub, cls, cls, methods=("gradcam", "ig"),
                                      n_steps=8)
    ref = insertion_deletion(Ub, cls, cls, recon, h, method="ig", n_steps=8)
    np.testing.assert_allclose(np.asarray(ig.insertion), np.asarray(ref.insertion), rtol=1e-5)
    import equinox as eqx

    other = eqx.tree_at(lambda m: m.logits, model, model.logits + 1.0)
    before = model_insertion_deletion._cached._cache_size()
    model_insertion_deletion(other, head, Ub, cls, cls, methods=("gradcam", "ig"), n_steps=8)
    assert model_insertion_deletion._cached._cache_size() == before


@pytest.mark.slow
def test_streamed_accumulators_equal_the_one_shot_metrics():
    model, h, U, W = _setup()
    B = 12
    yb = np.arange(B) % Y
    rows_y = np.repeat(yb, P)
    A_rows = (U[: B * P] + 0.05) @ W + 0.01
    one = consistency(model, A_rows, rows_y, A_rows[::-1], rows_y[::-1])
    acc = ClassMSE()
    for s in range(0, B * P, 7):  # uneven batches
        sl = slice(s, s + 7)
        acc.add(A_rows[sl], model.reconstruct(model.transform(A_rows[sl], rows_y[sl]), rows_y[sl]),
                rows_y[sl])
    got = acc.summary("train")
    for k in ("train_mse", "train_class_mean", "train_class_std"):
        np.testing.assert_allclose(got[k], one[k], rtol=1e-5)
    head = _Head(jnp.asarray(np.random.default_rng(1).normal(size=(Y, W.shape[1])), jnp.float32))
    h = lambda rows: rows.mean(0) @ head.weight.T  # noqa: E731
    A_img = A_rows.reshape(B, P, -1)
    ref = reconstruction_accuracy(model, A_img, yb, yb, yb, h, n_classes=Y)
    Uc = model.transform(A_rows, rows_y)
    rec = np.concatenate([reconstructed_predictions(model, head, Uc[s * P:(s + 4) * P],
                                                    yb[s:s + 4], P, W.shape[1])
                          for s in range(0, B, 4)])
    acc_l, mean, std = per_class_accuracy(rec, yb, Y)
    np.testing.assert_allclose(acc_l, ref["acc_label"])
    assert (mean, std) == (ref["acc_label_mean"], ref["acc_label_std"])
    # a class without images is NaN and left out of the mean
    acc_l, mean, _ = per_class_accuracy(np.array([0, 0]), np.array([0, 0]), 3)
    assert acc_l[0] == 1.0 and np.isnan(acc_l[1:]).all() and mean == 1.0


def test_recipe_recall_across_k_names_the_collapse_and_its_gates():
    """C2MF's recipe recall per k on planted truth, with the open gates behind each value; a k
    whose recall is at most half the best is called out with its gate statistics."""
    from jaxconcepts.report._c2mf import recipe_lines

    def score(recall, n_open, matched=1.0):
        return {"matched_fraction": matched, "mean_best_corr": 0.4, "precision": 1.0,
                "recall": recall, "n_active_mean": n_open}

    planted_ = {"gate_threshold": 0.5, "results": {"c2mf": {
        "k10": score(0.75, 3.4), "k20": score(0.9, 2.8), "k50": score(0.0625, 0.125)}}}
    results = {"c2mf": {"k50": {"k_used": 50, "solver": {"gates_open_fraction": 0.0025,
                                                         "gates_mean": 0.123}}}}
    text = "\n".join(recipe_lines(planted_, results))
    assert "| 50 | 0.12 | 1.000 | 0.400 | 1.000 | 0.062 |" in text
    assert "**Recall collapses at k = 50:** 0.062 against 0.900 at k = 20." in text
    assert "0.12 open gate(s)" in text and "0.2% of all gates" in text
    assert "collapse is in the gates, not in the dictionary" in text
    assert "collapses at k = 10" not in text  # 0.75 is more than half of 0.9
    # fewer matched atoms too: the sentence does not blame the gates alone
    planted_["results"]["c2mf"]["k50"]["matched_fraction"] = 0.5
    assert "Fewer atoms match parts too" in "\n".join(recipe_lines(planted_, results))
    # no collapse, no sentence; no C2MF, no section
    planted_["results"]["c2mf"]["k50"]["recall"] = 0.8
    assert "collapses" not in "\n".join(recipe_lines(planted_, results))
    assert recipe_lines({"results": {"pca": {}}}, {}) == []
