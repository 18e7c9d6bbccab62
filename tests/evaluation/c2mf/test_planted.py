"""The C2MF suite's planted scores (jaxconcepts/evaluation/c2mf/_planted.py): atoms vs parts and
class concepts vs recipes."""

from types import SimpleNamespace

import numpy as np

from jaxconcepts.evaluation.c2mf._planted import _recipe_scores, planted_scores


def _toy(seed=0, n=6, p=9):
    """3 parts' masks over n images x p positions and codes: atom 0 = part 1's mask, atom 1 =
    2 x part 2's mask + 0.1, atom 2 noise."""
    rng = np.random.default_rng(seed)
    part = rng.integers(0, 3, size=(n, p))
    masks = np.stack([(part == q) for q in range(3)], 1).astype(np.float32)  # (n, P, p)
    noise = rng.uniform(size=(n, p))
    U = np.stack([masks[:, 1], 2 * masks[:, 2] + 0.1, noise], -1)  # (n, p, k)
    return U, masks, noise


def _corr(a, b):
    return np.corrcoef(a.ravel(), b.ravel())[0, 1]


def test_recipe_scores_match_the_planted_parts():
    U, masks, noise = _toy()
    y = np.zeros(len(U), int)
    sc = _recipe_scores(U, masks, y, [0], [{1, 2}], None, threshold=0.9, gate_threshold=0.5)
    best_noise = max(_corr(noise, masks[:, q]) for q in range(3))
    np.testing.assert_allclose(sc["mean_best_corr"], (1 + 1 + best_noise) / 3, rtol=1e-5)
    assert sc["precision"] == 1.0 and sc["recall"] == 1.0 and sc["n_active_mean"] == 3.0
    assert sc["matched_fraction"] == float((2 + best_noise) / 3 >= 0.9)
    # a recipe of parts {0, 1}: the found parts {1, 2} give precision 1/2, recall 1/2
    sc = _recipe_scores(U, masks, y, [0], [{0, 1}], None, threshold=0.9, gate_threshold=0.5)
    assert (sc["precision"], sc["recall"]) == (0.5, 0.5)


def test_gates_choose_a_classes_concepts_and_empty_classes_are_skipped():
    U, masks, _ = _toy(1)
    y = np.array([0, 0, 0, 1, 1, 1])
    gates = np.array([[0.9, 0.1, 0.9], [0.9, 0.9, 0.1]])
    sc = _recipe_scores(U, masks, y, [0, 1], [{1, 2}, {1, 2}], gates, threshold=0.9,
                        gate_threshold=0.5)
    # class 0 finds part 1 only (atom 1 gated off; atom 2 noise), class 1 finds both
    assert sc["recall"] == (0.5 + 1.0) / 2 and sc["precision"] == 1.0
    assert sc["n_active_mean"] == 2.0
    # a class with no image, or whose class id has no recipe, is left out; none left: None
    assert _recipe_scores(U, masks, np.full(6, 1), [0, 5], [{1}], None, threshold=0.9,
                          gate_threshold=0.5) is None


def test_planted_scores_is_none_when_no_test_image_has_its_true_label():
    files = ["a.png", "b.png"]
    truth = SimpleNamespace(files=files, label=np.array([1, 1]),
                            part_map=np.zeros((2, 4, 4), np.int64), part_names=["bg"],
                            meta={"recipes": [[0], [0]]})
    view = SimpleNamespace(data=SimpleNamespace(index=np.array([0, 1]), cls=np.array([0, 0])),
                           split=SimpleNamespace(test=np.array([0, 1]), classes=[0]),
                           y_img_test=np.array([0, 0]), n_classes=1)
    store_images = [{"path": f} for f in files]
    assert planted_scores(truth, store_images, (2, 2, 2), view, {}, batch_images=2) is None


def test_planted_scores_of_a_model_whose_codes_are_the_part_masks():
    """Store rows = the one-hot part of each grid cell and a model that returns them: every atom
    is its part (corr 1), the recipe is found, every present part is covered."""
    rng = np.random.default_rng(0)
    n, P, G = 6, 3, 2  # images, parts, grid side (truth maps at 2x: blocks of 2x2 pixels)
    cells = rng.integers(0, P, size=(n, G, G))
    cells[:, 0, 0] = np.arange(n) % P  # every part somewhere
    part_map = cells.repeat(2, 1).repeat(2, 2)
    A = np.eye(P, dtype=np.float32)[cells.reshape(n, G * G)]  # (n, p, C = P)
    files = [f"im{i}.png" for i in range(n)]
    truth = SimpleNamespace(files=files[::-1], label=np.zeros(n, int), part_map=part_map[::-1],
                            part_names=["a", "b", "c"], meta={"recipes": [[0, 1, 2]]})
    batches = [SimpleNamespace(A=A[i:i + 4], y=np.zeros(len(A[i:i + 4]), int), n=len(A[i:i + 4]))
               for i in range(0, n, 4)]
    view = SimpleNamespace(data=SimpleNamespace(index=np.arange(n), cls=np.zeros(n, int)),
                           split=SimpleNamespace(test=np.arange(n), classes=[0]),
                           y_img_test=np.zeros(n, int), n_classes=1,
                           test_batches=lambda b: iter(batches))
    model = SimpleNamespace(transform=lambda rows, y: rows,
                            concepts=np.broadcast_to(np.eye(P, dtype=np.float32), (1, P, P)))
    out = planted_scores(truth, [{"path": f} for f in files], (P, G, G), view,
                         {"c2mf": {3: {"model": model}}}, batch_images=4)
    assert out["n_images"] == n and out["threshold"] == 0.3
    sc = out["results"]["c2mf"][3]
    assert sc["mean_best_corr"] > 0.999 and sc["matched_fraction"] == 1.0
    assert (sc["precision"], sc["recall"], sc["n_active_mean"]) == (1.0, 1.0, 3.0)
    assert sc["coverage"] and set(sc["coverage"].values()) == {1.0}  # at every τ
