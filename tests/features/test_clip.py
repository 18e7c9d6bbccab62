"""CLIP naming with a small randomly initialised CLIP (no download): plumbing, checkpoint loading,
and the score is CLIP's softmax over the vocabulary."""

import numpy as np
import pytest
import torch

from jaxconcepts.features._clip import clip_name, concept_patches, load_clip

CFG = {"embed_dim": 16,
       "vision_cfg": {"layers": 1, "width": 32, "head_width": 16, "patch_size": 8,
                      "image_size": 32},
       "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2,
                    "layers": 1}}
VOCAB = ["cat", "dog", "tree", "car", "bird"]


@pytest.fixture(scope="module")
def clip():
    torch.manual_seed(0)
    return load_clip(model_cfg=CFG, checkpoint=None)


def test_concept_patches_geometry():
    img = np.zeros((1, 8, 8, 3), np.uint8)
    img[0, :4, :4] = 255  # top-left quadrant white
    p = concept_patches(img, [0, 0], [0, 3], grid=(2, 2), scale=1.0, size=4)
    assert p.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(p[0], 1.0)  # cell (0, 0): the white quadrant
    np.testing.assert_allclose(p[1], 0.0)  # cell (1, 1): black
    with pytest.raises(ValueError, match="positions"):
        concept_patches(img, [0], [4], grid=(2, 2), scale=1.0, size=4)


def test_scores_are_clip_softmax(clip):
    rng = np.random.default_rng(0)
    patches = rng.uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    words = clip_name(clip, patches, vocabulary=VOCAB, n_words=5)
    assert sorted(w for w, _ in words) == sorted(VOCAB)
    assert sum(s for _, s in words) == pytest.approx(1.0, abs=1e-5)
    # reference: the same computation written out
    with torch.no_grad():
        t = ((torch.from_numpy(patches).permute(0, 3, 1, 2)
              - torch.tensor(clip.mean).view(1, 3, 1, 1))
             / torch.tensor(clip.std).view(1, 3, 1, 1))
        img = torch.nn.functional.normalize(clip.model.encode_image(t), dim=-1)
        txt = torch.nn.functional.normalize(
            clip.model.encode_text(clip.tokenizer([f"a photo of a {v}." for v in VOCAB])), dim=-1)
        p = torch.softmax(clip.model.logit_scale.exp() * img @ txt.T, -1).mean(0).numpy()
    best = int(np.argmax(p))
    assert words[0] == (VOCAB[best], pytest.approx(float(p[best]), rel=1e-4))


def test_checkpoint_by_path(clip, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(clip.model.state_dict(), path)
    again = load_clip(model_cfg=CFG, checkpoint=path)
    x = np.random.default_rng(1).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    assert clip_name(clip, x, vocabulary=VOCAB) == clip_name(again, x, vocabulary=VOCAB)
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_clip("ViT-B-32", checkpoint=tmp_path / "missing.bin")
    with pytest.raises(ValueError, match="exactly one"):
        load_clip(checkpoint=None)


def test_default_vocabulary_is_imagenet(clip):
    x = np.random.default_rng(2).uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
    words = clip_name(clip, x, n_words=3)
    from jaxconcepts.store import imagenet_lemmas

    lem = {x[0] for x in imagenet_lemmas()}
    assert len(words) == 3 and all(w in lem for w, _ in words)
