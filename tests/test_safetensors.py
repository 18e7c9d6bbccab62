"""jaxconcepts._safetensors: the one codec (dtype names, header, reads, the writer)."""

import ml_dtypes
import numpy as np
import pytest

from jaxconcepts import _safetensors as st


def _arrays():
    rng = np.random.default_rng(0)
    out = {name: (rng.standard_normal((2, 3)) * 4).astype(dt) for name, dt in st.DTYPES.items()
           if dt.kind == "f" or dt == np.dtype(ml_dtypes.bfloat16)}
    out |= {name: rng.integers(0, 100, (3, 2)).astype(dt) for name, dt in st.DTYPES.items()
            if dt.kind in "iu"}
    out["BOOL"] = np.array([True, False, True])
    out["empty"] = np.zeros((0, 4), np.float32)
    return out


def test_every_dtype_round_trips_and_the_bytes_are_deterministic(tmp_path):
    arrays = _arrays()
    sha = st.write(tmp_path / "a.safetensors", arrays, {"k": "v"})
    again = st.write(tmp_path / "b.safetensors", dict(reversed(list(arrays.items()))), {"k": "v"})
    assert sha == again
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    got = st.read(tmp_path / "a.safetensors")
    assert list(got) == sorted(arrays) == st.keys(tmp_path / "a.safetensors")
    for k, a in arrays.items():
        assert got[k].dtype == a.dtype and np.array_equal(got[k], a), k
        m = st.read_tensor(tmp_path / "a.safetensors", k, mapped=True)
        assert np.array_equal(m, a) and st.tensor_info(tmp_path / "a.safetensors", k) == (
            a.shape, st.NAMES[a.dtype])
    assert st.metadata(tmp_path / "a.safetensors") == {"k": "v"}
    assert st.metadata(tmp_path / "b.safetensors") == {"k": "v"}
    _, start = st.read_header(tmp_path / "a.safetensors")
    assert start % 8 == 0


def test_the_librarys_files_read_the_same(tmp_path):
    from safetensors.numpy import save_file

    arrays = {k: v for k, v in _arrays().items() if k not in ("BF16", "empty")}
    save_file(arrays, str(tmp_path / "lib.safetensors"), metadata={"m": "1"})
    got = st.read(tmp_path / "lib.safetensors")
    assert set(got) == set(arrays) and st.metadata(tmp_path / "lib.safetensors") == {"m": "1"}
    for k, a in arrays.items():
        assert np.array_equal(got[k], a), k


def test_errors_name_the_tensor_and_the_dtypes(tmp_path):
    st.write(tmp_path / "a.safetensors", {"x": np.ones(2, np.float32)})
    for exc in (KeyError, ValueError):  # a missing tensor is both
        with pytest.raises(exc, match="has no tensor 'y'; it has \\['x'\\]"):
            st.read(tmp_path / "a.safetensors", ["y"])
    with pytest.raises(ValueError, match="has no tensor"):
        st.tensor_info(tmp_path / "a.safetensors", "y")
    with pytest.raises(TypeError, match="complex64"):
        st.write(tmp_path / "c.safetensors", {"z": np.ones(2, np.complex64)})
    assert not (tmp_path / "c.safetensors").exists()  # nothing half-written
