"""Helpers any benchmark can reuse: machine info, peak-memory measurement, synthetic activations."""

from __future__ import annotations

import contextlib
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

__all__ = [
    "machine_info",
    "PeakMemory",
    "peak_memory",
    "rss_bytes",
    "synthetic_activations",
    "Timer",
]

_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "XLA_FLAGS",
    "JAX_PLATFORMS",
)


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, library versions, thread-related environment and threadpoolctl view."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "env": {k: os.environ.get(k) for k in _ENV_VARS},
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_kb"] = int(line.split()[1])
    with contextlib.suppress(OSError):
        info["loadavg"] = os.getloadavg()
    versions = {}
    for mod in ("numpy", "scipy", "sklearn", "jax", "jaxlib", "threadpoolctl"):
        with contextlib.suppress(Exception):
            versions[mod] = __import__(mod).__version__
    info["versions"] = versions
    with contextlib.suppress(Exception):
        import jax

        info["jax_devices"] = [str(d) for d in jax.devices()]
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_info

        info["threadpoolctl"] = [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version",
                                   "architecture", "filepath")}
            for p in threadpool_info()
        ]
    return info


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _vm_hwm() -> int | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


class PeakMemory:
    """Peak RSS during a block: ``bytes`` (absolute peak) and ``delta`` (peak minus RSS at entry).

    Resets the kernel's high-water mark (``/proc/self/clear_refs``) when allowed, and also samples
    RSS in a thread every ``interval`` s as a fallback; the larger of the two is reported.
    """

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.bytes = 0
        self.start = 0
        self.delta = 0
        self.method = "sampling"

    def __enter__(self):
        self.start = rss_bytes()
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
            self.method = "VmHWM"
        self._peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        peak = max(self._peak, rss_bytes())
        hwm = _vm_hwm() if self.method == "VmHWM" else None
        self.bytes = max(peak, hwm or 0)
        self.delta = self.bytes - self.start
        return False


@contextlib.contextmanager
def peak_memory(interval: float = 0.005) -> Iterator[PeakMemory]:
    with PeakMemory(interval) as pm:
        yield pm


class Timer:
    """``with Timer() as t: ...``; ``t.seconds`` afterwards (perf_counter)."""

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        return False


def synthetic_activations(
    n: int, c: int = 2048, h: int = 8, w: int = 8, *, seed: int = 0, rank: int = 6
) -> np.ndarray:
    """ReLU activations shaped like a CNN's last feature map: float32 (n, c, h, w).

    Each image has ``rank`` Gaussian spatial "parts"; channels load sparsely on them, plus noise,
    minus a per-channel bias, then ReLU. At 2048 x 8 x 8 about 30-55 % of the channels are all zero
    and the channel maxima fall on 20-40 distinct positions.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, c, h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        cy, cx = rng.uniform(0, h, rank), rng.uniform(0, w, rank)
        s = rng.uniform(0.8, 2.5, rank)
        d2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
        basis = np.exp(-d2 / (2 * s[:, None, None] ** 2)).reshape(rank, -1)
        load = rng.gamma(0.5, 1.0, (c, rank)) * (rng.random((c, rank)) < 0.5)
        z = load @ basis + 0.08 * rng.standard_normal((c, h * w))
        bias = rng.uniform(0.3, 1.2, (c, 1)) * rng.uniform(0.7, 1.6)
        out[i] = np.maximum(z - bias, 0).reshape(c, h, w)
    return out
