import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def embedded_model():
    from jaxconcepts.features import load_model

    return load_model("tf_efficientnet_lite0", weights="embedded", image_size=256)


@pytest.fixture(scope="session")
def tiny_model():
    """A randomly initialised small CNN (no download): resnet10t, 5 classes, 64 px input."""
    import torch

    from jaxconcepts.features import load_model

    torch.manual_seed(0)
    return load_model("resnet10t", weights="random", image_size=64, num_classes=5)


def write_image(path, mode="RGB", size=(40, 30), seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(rng.integers(0, 65535, size[::-1], dtype=np.uint16)).save(path)
        return path
    arr = rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)
    return path


@pytest.fixture
def image_folder(tmp_path):
    """An ImageFolder-style tree: two classes, three images."""
    root = tmp_path / "images"
    write_image(root / "a" / "x.png", seed=1)
    write_image(root / "a" / "y.jpg", seed=2)
    write_image(root / "b" / "z.png", seed=3)
    return root
