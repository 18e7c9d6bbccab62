"""Benchmark: occlusion importance (Eq. 3) of every concept, sub-concept and complement of N images.

Compared in one run, on the same activations, labels and head:

- ``torch_loop``: the straightforward way (timed with torch's default threads and with 1 thread;
  ratios use the faster): for each image and each occlusion, copy A, zero the
  channels, run the model's torch head h once, softmax (1 + 2K + K*S forward calls per image);
- ``jax_closed_form``: ``concept_importance`` with the GAP + linear closed form, one jitted call
  per batch (masks (B, M, C) on the pooled features);
- ``jax_generic_head``: the same head as a JAX callable on the explicitly masked maps (what a head
  without a closed form costs);
- ``torch_batched``: ``HostHead`` (masks in JAX, the torch head run on all masked maps in chunks).

Activations: the photos store (``data/photos/activations``) when present, else synthetic ReLU maps;
the head: EfficientNet-Lite0's (embedded weights) when available, else a random linear head.
Writes ``reports/benchmarks/importance.json``: images/s per path, ratios to the loop, the largest
disagreement with the loop, machine info. Usage: ``python -m benchmarks importance [--n 32]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    from benchmarks._common import machine_info, synthetic_activations
except ImportError:  # pragma: no cover - minimal fallbacks
    import os
    import platform

    def machine_info():
        return {"platform": platform.platform(), "cpu_count": os.cpu_count()}

    def synthetic_activations(n, c=1280, h=8, w=8, *, seed=0, rank=6):
        rng = np.random.default_rng(seed)
        return np.maximum(rng.normal(size=(n, c, h, w)) - 0.8, 0).astype(np.float32)


def _labels(a: np.ndarray, k: int, s: int, seed: int):
    """Random concept / sub-concept ids for the live channels (timing does not depend on them)."""
    rng = np.random.default_rng(seed)
    live = a.reshape(*a.shape[:2], -1).max(-1) > 0
    lab = np.where(live, rng.integers(0, k, size=live.shape), -1).astype(np.int32)
    sub = np.where(live, rng.integers(0, s, size=live.shape), -1).astype(np.int32)
    return lab, sub


def _torch_loop(torch, h, a, lab, sub, target, k, s):
    """Eq. 3 the straightforward way: one head call per occlusion, per image."""
    n = len(a)
    imp, keep, sub_imp = np.zeros((n, k)), np.zeros((n, k)), np.zeros((n, k, s))
    with torch.no_grad():
        for i in range(n):
            x = torch.from_numpy(a[i : i + 1].copy())
            t = int(target[i])

            def p(mask, x=x, t=t):
                y = x.clone()
                y[:, torch.from_numpy(mask)] = 0.0
                return torch.softmax(h(y), -1)[0, t].item()

            p_t = torch.softmax(h(x), -1)[0, t].item()
            for l in range(k):
                m = lab[i] == l
                if m.any():
                    imp[i, l] = (p_t - p(m)) / p_t * 100
                    keep[i, l] = (p_t - p(~m)) / p_t * 100
                for j in range(s):
                    ms = m & (sub[i] == j)
                    if ms.any():
                        sub_imp[i, l, j] = (p_t - p(ms)) / p_t * 100
    return imp, keep, sub_imp


def _time(fn, repeats):
    best = float("inf")
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32, help="images (default 32)")
    ap.add_argument("--k", type=int, default=5, help="concepts per image (default 5)")
    ap.add_argument("--s", type=int, default=3, help="sub-concepts per concept (default 3)")
    ap.add_argument("--batch", type=int, default=32, help="images per jitted call (default 32)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default 3)")
    ap.add_argument(
        "--store", default="data/photos/activations", help="activation store to use if present"
    )
    ap.add_argument("--out", default="reports/benchmarks/importance.json")
    args = ap.parse_args(argv)

    import jax
    import jax.numpy as jnp
    import torch

    from jaxconcepts.io import write_json
    from jaxconcepts.heads import HeadParams, HostHead
    from jaxconcepts.importance import concept_importance

    source = "synthetic"
    a = None
    if Path(args.store, "manifest.json").is_file():
        from jaxconcepts.store import ActivationStore

        st = ActivationStore(args.store)
        a = st.read("activations")
        source = f"store {args.store} ({len(a)} images, tiled to n)"
        a = np.concatenate([a] * (-(-args.n // len(a))))[: args.n]
    try:
        from jaxconcepts.features import load_model

        lm = load_model("tf_efficientnet_lite0", weights="embedded", image_size=256)
        head_name = "tf_efficientnet_lite0 forward_head (embedded weights)"
        weight, bias = lm.head_weight, lm.head_bias
        h = lm.model.forward_head
    except (ImportError, OSError, RuntimeError, ValueError) as e:  # no embedded weights
        print(f"embedded model unavailable ({e}); using a random linear head", file=sys.stderr)
        head_name = "random nn.Linear(1280, 1000) after global average pooling"
        lin = torch.nn.Linear(1280, 1000)
        weight, bias = lin.weight.detach().numpy(), lin.bias.detach().numpy()

        def h(x):
            return lin(x.mean((2, 3)))

    if a is None:
        a = synthetic_activations(args.n, c=weight.shape[1], seed=0)
    a = np.ascontiguousarray(a, np.float32)
    k, s = args.k, args.s
    lab, sub = _labels(a, k, s, seed=1)
    with torch.no_grad():
        target = torch.softmax(h(torch.from_numpy(a)), -1).argmax(-1).numpy().astype(np.int32)
    n_calls = 1 + 2 * k + k * s

    def run_jax(head):
        outs = []
        for i in range(0, len(a), args.batch):
            sl = slice(i, i + args.batch)
            r = concept_importance(
                a[sl], lab[sl], sub[sl], target[sl], head=head, n_concepts=k, n_sub=s
            )
            jax.block_until_ready(r)
            outs.append(r)
        return (
            np.concatenate([np.asarray(r.importance) for r in outs]),
            np.concatenate([np.asarray(r.keep_importance) for r in outs]),
            np.concatenate([np.asarray(r.sub_importance) for r in outs]),
        )

    w_j, b_j = jnp.asarray(weight), jnp.asarray(bias)

    def jax_head(x):
        return x.mean((-2, -1)) @ w_j.T + b_j

    def torch_fn(x):
        with torch.no_grad():
            return h(torch.from_numpy(np.array(x, np.float32))).numpy()

    paths = {
        "jax_closed_form": lambda: run_jax(HeadParams(weight, bias)),
        "jax_generic_head": lambda: run_jax(jax_head),
        "torch_batched": lambda: run_jax(HostHead(torch_fn, batch_size=256)),
    }
    results = {}
    # torch's intra-op threads spin under CPU contention (shared machines): time the loop with the
    # default thread count and with 1 thread, and compare against the faster of the two
    default_threads = torch.get_num_threads()
    loops = {}
    for th in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(th)
        secs, ref = _time(
            lambda: _torch_loop(torch, h, a, lab, sub, target, k, s), max(1, args.repeats - 1)
        )
        loops[th] = secs
        results[f"torch_loop_{th}_threads"] = {
            "seconds": secs,
            "images_per_s": len(a) / secs,
            "head_calls_per_image": n_calls,
            "torch_threads": th,
        }
    best_th = min(loops, key=loops.get)
    torch.set_num_threads(best_th)
    loop_s = loops[best_th]
    results["torch_loop"] = dict(
        results[f"torch_loop_{best_th}_threads"], note="the faster loop, used for ratios"
    )
    for name, fn in paths.items():
        t0 = time.perf_counter()
        out = fn()  # compile + first run
        first = time.perf_counter() - t0
        secs, out = _time(fn, args.repeats)
        diff = max(float(np.abs(o - r).max()) for o, r in zip(out, ref))
        results[name] = {
            "seconds": secs,
            "images_per_s": len(a) / secs,
            "first_call_seconds": first,
            "speedup_vs_torch_loop": loop_s / secs,
            "max_abs_diff_vs_loop": diff,
        }
    report = {
        "benchmark": "importance",
        "n_images": len(a),
        "n_concepts": k,
        "n_sub_concepts": s,
        "batch": args.batch,
        "activation_shape": list(a.shape[1:]),
        "activations": source,
        "head": head_name,
        "torch_threads_default": default_threads,
        "torch_threads_used_for_batched": best_th,
        "repeats": args.repeats,
        "timing": "best of repeats, wall clock; compile excluded except first_call_seconds",
        "results": results,
        "machine": machine_info(),
    }
    write_json(args.out, report)
    for name, r in results.items():
        extra = (
            f"  x{r['speedup_vs_torch_loop']:.1f} vs loop, max|dI|={r['max_abs_diff_vs_loop']:.2g}"
            if "speedup_vs_torch_loop" in r
            else ""
        )
        print(f"{name:18s} {r['images_per_s']:9.1f} images/s{extra}")
    return report


if __name__ == "__main__":
    main()
