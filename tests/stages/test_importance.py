"""Stage ``importance``: bad input is a clear error (fixture ``project``)."""

from pathlib import Path

import numpy as np
import pytest

from jaxconcepts._parts import write_part
from tests._params import write_params


from tests.stages._toy import C


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
