"""Stage ``scoreboard`` (the second pipeline, ``scoreboard/dvc.yaml``): every concept method on
the synthetic ground with known atoms, at matched explained variance.

Reads its own params file (``scoreboard/params.yaml``, section ``scoreboard``: the ground's
size and the methods' training settings; the main pipeline's ``params.yaml`` is untouched).
Writes a SynthSAEBench-style ground (more atoms than dimensions, Zipfian firing, hierarchy,
noise) as a feature store (:func:`jaxconcepts.sae.write_feature_store`, one row per image, each
row's class its strongest top-level feature group) in a temporary folder, reads its rows back
(:func:`jaxconcepts.sae.load_feature_store`: every method is scored on these rows), and runs
:func:`jaxconcepts.sae.synthetic_scoreboard`: each method's sparsity or size matched to each
target R²; MCC, F1 at |cos| ≥ 0.9, dead latents; a paired 95 % interval against its random
counterpart; PW-MCC over independent seeds. The SAEs, SemiNMF and k-means fit in memory; C2MF
and the per-class PCA stream from the store; CRAFT's NMF fits in memory on ``max(A, 0)``; the
``streamed`` SAEs are fitted a second time with :func:`jaxconcepts.sae.fit_sae_streamed` from
the store. Each seed's atoms are kept under ``data/scoreboard/runs/<settings hash>/`` (a killed
run resumes per seed); the stage writes ``reports/scoreboard/scoreboard.{json,md}`` and
``scoreboard.png`` (R² against MCC, one point per method and target).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from jaxconcepts._io import write_json, write_text
from jaxconcepts.stages._board import board_section
from jaxconcepts.stages._common import stage_parser

__all__ = ["Settings", "main"]

OUT = Path("reports") / "scoreboard"
RUNS = Path("data") / "scoreboard" / "runs"


@dataclasses.dataclass(frozen=True)
class Settings:
    """``scoreboard/params.yaml`` → ``scoreboard`` (every key required; module docstring)."""

    dim: int
    n_features: int
    n_rows: int
    hierarchy: float
    noise: float
    ground_seed: int
    n_classes: int
    shard_rows: int
    width: int
    epochs: int
    batch_size: int
    learning_rate: float
    seeds: list
    targets: list
    methods: list
    streamed: list
    c2mf: dict
    craft: dict

    @classmethod
    def load(cls, path) -> "Settings":
        s = board_section(cls, path, "scoreboard")
        if not all(0.0 < t < 1.0 for t in s.targets):
            raise ValueError(f"scoreboard.targets={s.targets} should be R² values in (0, 1)")
        s._check_class_methods()
        return s

    def _check_class_methods(self) -> None:
        from jaxconcepts.sae._classwise import C2MF_KEYS, CRAFT_KEYS

        if not (isinstance(self.n_classes, int) and self.n_classes >= 2):
            raise ValueError(f"scoreboard.n_classes={self.n_classes!r} should be an int >= 2")
        for name, keys in (("c2mf", C2MF_KEYS), ("craft", CRAFT_KEYS)):
            got = getattr(self, name)
            if not isinstance(got, dict) or sorted(got) != sorted(keys):
                raise ValueError(f"scoreboard.{name} should have the keys {sorted(keys)}, got "
                                 f"{sorted(got) if isinstance(got, dict) else got!r}")
        if not set(self.streamed) <= set(self.methods):
            raise ValueError(f"scoreboard.streamed={self.streamed} should be among "
                             f"scoreboard.methods={self.methods}")


def main(argv: list[str] | None = None) -> None:
    from jaxconcepts.report import scoreboard_markdown
    from jaxconcepts.viz._boards import scoreboard_figure
    from jaxconcepts.sae import (load_feature_store, nonnegative_ceiling, synthetic_scoreboard,
                                 write_feature_store)

    parser = stage_parser(__doc__.splitlines()[0], dataset=False)
    parser.set_defaults(params="scoreboard/params.yaml")
    args = parser.parse_args(argv)
    s = Settings.load(args.params)
    t0 = time.perf_counter()
    fit_kwargs = {"width": s.width, "epochs": s.epochs, "batch_size": s.batch_size,
                  "learning_rate": s.learning_rate}
    key = hashlib.sha256(json.dumps(dataclasses.asdict(s), sort_keys=True).encode()).hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "ground"
        write_feature_store(store, n_images=s.n_rows, hw=(1, 1), dim=s.dim,
                            n_features=s.n_features, seed=s.ground_seed,
                            images_per_shard=s.shard_rows, n_classes=s.n_classes,
                            hierarchy=s.hierarchy, noise=s.noise)
        A, y, W = load_feature_store(store)
        rows = synthetic_scoreboard(A, W, RUNS / key[:16], methods=s.methods, targets=s.targets,
                                    seeds=s.seeds, fit_kwargs=fit_kwargs, y=y, store=store,
                                    n_classes=s.n_classes, streamed=s.streamed,
                                    class_kwargs={"c2mf": s.c2mf, "craft": s.craft})
    json.dumps(rows, allow_nan=False)  # refuse NaN before writing anything
    counts = [int(c) for c in np.bincount(y, minlength=s.n_classes)]
    ceiling = nonnegative_ceiling(W)
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"settings": dataclasses.asdict(s), "class_rows": counts,
              "nonnegative_mcc_ceiling": ceiling, "seconds": time.perf_counter() - t0,
              "rows": rows}
    write_json(OUT / "scoreboard.json", result)
    write_text(OUT / "scoreboard.md", scoreboard_markdown(result))
    scoreboard_figure(rows, OUT / "scoreboard.png")
    print(f"scoreboard: {len(rows)} rows in {time.perf_counter() - t0:.0f} s -> "
          f"{OUT}/scoreboard.md")


if __name__ == "__main__":
    main()
