"""jaxconcepts._io: outputs whose bytes depend only on their content."""

import subprocess
import sys

_WRITE = """
import sys
import numpy as np
from jaxconcepts._io import save_arrays
save_arrays(sys.argv[1], {"b": np.arange(5, dtype=np.int32), "a": np.ones((2, 3), np.float32)},
            {k: str(i) for i, k in enumerate("zamqxy")})
"""


def test_save_arrays_writes_the_same_bytes_in_every_process(tmp_path):
    """safetensors orders its metadata map differently in each process; ours must not."""
    paths = [tmp_path / f"{i}.safetensors" for i in range(3)]
    for p in paths:
        subprocess.run([sys.executable, "-c", _WRITE, str(p)], check=True)
    first = paths[0].read_bytes()
    assert all(p.read_bytes() == first for p in paths[1:])
    from jaxconcepts._io import load_arrays

    assert load_arrays(paths[0])["b"].tolist() == [0, 1, 2, 3, 4]
