"""Shared test configuration: a per-session XLA compilation cache, XLA's CPU backend at
optimisation level 0 without its fusion emitters, one OpenMP thread for torch, hypothesis profiles
and deterministic PRNG keys; the shared builders as fixtures (``params_file``, ``rows_store``,
``launch``: ``tests/_params.py`` and ``tests/_builders.py``).

Profiles: ``ci`` (default; few examples, no deadline — JAX compiles on first call) and ``dev``
(more examples). Select with ``HYPOTHESIS_PROFILE=dev pytest``.
"""

import atexit
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

# One XLA compilation cache per test session, shared with the subprocesses tests launch (stages,
# 2-process runs): the same programs compile once per session, not once per process. Fresh each
# session, so no test ever sees a program compiled by an earlier run of the suite.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _xla_cache = tempfile.mkdtemp(prefix="jaxconcepts-tests-xla-")
    atexit.register(shutil.rmtree, _xla_cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _xla_cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"

# XLA's CPU backend at LLVM optimisation level 0: the suite's time is almost all XLA compiling
# (tests run small inputs through many distinct programs), and level 0 compiles ~1.8x faster.
# It changes how fast the compiled code runs, not what it computes (floats may differ in their
# last bits, as they do between machines). Subprocesses the tests launch inherit it (those that
# force CPU devices append to XLA_FLAGS). An optimisation level already in XLA_FLAGS wins.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_backend_optimization_level=0").strip()


# XLA's CPU backend without its MLIR fusion emitters: the older elemental emitters compile the
# suite's many small programs faster (README, Development), with the same caveat as the
# optimisation level (floats may differ in their last bits). The stages' flag and their check
# that this jaxlib knows it (jaxconcepts/cli.py; an unknown XLA flag aborts the process), set once
# per session (xdist workers and launched subprocesses inherit it); a setting of it already in
# XLA_FLAGS wins.
from jaxconcepts import cli as _cli  # noqa: E402  (imports no JAX)

if "xla_cpu_use_fusion_emitters" not in os.environ["XLA_FLAGS"] and \
        _cli._jaxlib_knows_fusion_emitters():
    os.environ["XLA_FLAGS"] = f"{os.environ['XLA_FLAGS']} {_cli.NO_FUSION_EMITTERS}"

# One OpenMP thread for torch's forwards (and OpenMP BLAS), in this process and the ones tests
# launch: on a 2-core machine shared with other jobs, torch's spinning thread pool made model
# tests 5-10x slower (e.g. tests/features/test_layers.py + test_models.py). Tests that
# need a thread count set it themselves; OMP_NUM_THREADS set by the caller wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402  (after the cache variables: JAX reads them at import)

jax.config.update("jax_enable_x64", False)

settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's in-memory compiled programs after each test module. Every executable keeps its
    code mapped (LLVM maps each module's sections), so one process compiling the whole suite's
    programs crept towards the kernel's limit on memory maps (``vm.max_map_count``, 65 530):
    CI died twice of a segmentation fault inside XLA's compiler about 730 tests in. The 62 fast
    SAE tests alone left 7 848 maps; releasing per module leaves 1 359, at no cost in time
    (recompiles come from the on-disk compilation cache)."""
    yield
    import gc

    jax.clear_caches()
    gc.collect()


@pytest.fixture
def params_file(tmp_path):
    """``params_file(path=None, **kw)``: a params file at ``path`` (``tmp_path/params.yaml``), the
    repository's with overrides (:func:`tests._params.write_params`; ``base=`` another file)."""
    from tests._params import write_params

    def write(path=None, **kw):
        return write_params(tmp_path / "params.yaml" if path is None else path, **kw)

    return write


@pytest.fixture
def rows_store(tmp_path):
    """``rows_store(shards, path=None)``: a store of raw ``(activations, pred)`` shards at
    ``path`` (``tmp_path``) (:func:`tests._builders.write_rows_store`)."""
    from tests._builders import write_rows_store

    return lambda shards, path=None: write_rows_store(tmp_path if path is None else path, shards)


@pytest.fixture(scope="session")
def launch():
    """``launch(module, *args, devices=, processes=, coordinator=, timeout=, check=)``: a worker
    module in CPU subprocesses (:func:`tests._builders.launch`)."""
    from tests._builders import launch

    return launch
