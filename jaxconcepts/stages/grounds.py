"""Stage ``grounds`` (second pipeline, ``scoreboard/dvc.yaml``): every method on an image ground.

For one dataset with ground truth (``planted``: the planted parts; ``objects``: the real-photo
objects and their masks), read the main pipeline's activation store and truth, split the images as
the C2MF suite does (the dataset's ``c2mf`` params in ``params.yaml``: labels, test fraction,
streaming), and run :func:`jaxconcepts.evaluation._grounds.image_ground`: each method of
``scoreboard/params.yaml``'s ``grounds`` section at each of its settings, over independent seeds,
scored on the test images (R², localisation against the masks, importance against the known parts,
against the method's random counterpart with paired 95 % intervals, PW-MCC stability, dead
latents). Each fit is kept under ``data/scoreboard/grounds/<dataset>/`` (a killed run resumes),
and the stage writes ``reports/scoreboard/<dataset>.{json,md,png}``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path


from jaxconcepts._io import write_json, write_text
from jaxconcepts.stages._common import stage_parser

__all__ = ["GroundSettings", "main"]

OUT = Path("reports") / "scoreboard"
RUNS = Path("data") / "scoreboard" / "grounds"


@dataclasses.dataclass(frozen=True)
class GroundSettings:
    """``scoreboard/params.yaml`` → ``grounds`` (every key required)."""

    methods: list
    seeds: list
    sae_width: int
    sae_active: list
    jumprelu_sparsity: list
    dict_k: list
    sae_epochs: int
    sae_learning_rate: float
    sae_images_per_batch: int
    c2mf_max_steps: int
    batch_images: int

    @classmethod
    def load(cls, path) -> "GroundSettings":
        from jaxconcepts.evaluation._grounds import GROUND_METHODS

        from jaxconcepts.stages._board import board_section

        s = board_section(cls, path, "grounds")
        unknown = [m for m in s.methods if m not in GROUND_METHODS]
        if unknown:
            raise ValueError(f"grounds.methods: {unknown} unknown; valid choices: "
                             f"{list(GROUND_METHODS)}")
        too_big = [k for k in s.sae_active if not 1 <= int(k) <= s.sae_width]
        if too_big:
            raise ValueError(f"grounds.sae_active={s.sae_active} should be in [1, sae_width="
                             f"{s.sae_width}]")
        return s

    def knobs(self) -> dict:
        from jaxconcepts.evaluation._grounds import SAE_METHODS

        return {m: (self.jumprelu_sparsity if m == "jumprelu" else
                    self.sae_active if m in SAE_METHODS else self.dict_k) for m in self.methods}


def _view(store, cfg: dict):
    from jaxconcepts.evaluation._image_split import SplitRowsView, load_image_rows, split_by_image

    data = load_image_rows(store, labels=cfg["labels"])
    split = split_by_image(data.cls, test_fraction=float(cfg["test_fraction"]),
                           min_images=int(cfg["min_images"]), seed=int(cfg["seed"]))
    return SplitRowsView(store, data, split, cache_bytes=int(cfg["cache_mb"]) << 20)


def main(argv: list[str] | None = None) -> None:
    from jaxconcepts.datasets import load_truth
    from jaxconcepts.evaluation.c2mf._fit_evaluate import STREAM_KEYS
    from jaxconcepts.evaluation._grounds import image_ground
    from jaxconcepts.report import ground_markdown
    from jaxconcepts.stages._common import dataset_dir, stage_config
    from jaxconcepts.stages._store import open_store
    from jaxconcepts.viz._boards import ground_figure

    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument("--board", default="scoreboard/params.yaml",
                        help="the second pipeline's params file (section `grounds`)")
    args = parser.parse_args(argv)
    s = GroundSettings.load(args.board)
    section, seed = stage_config(args, "c2mf", "seed")
    cfg = dataclasses.asdict(section)
    cfg["seed"] = seed if cfg["seed"] is None else cfg["seed"]
    truth_dir = dataset_dir(args.dataset, "prepare") / "truth"
    if not (truth_dir / "truth.json").is_file():
        raise FileNotFoundError(f"dataset {args.dataset!r} has no ground truth at "
                                f"{str(truth_dir)!r}: the grounds need planted parts or object "
                                "masks (datasets planted, objects)")
    store = open_store(args)
    view = _view(store, cfg)
    stream_kw = {k: cfg[k] for k in STREAM_KEYS}
    stream_kw["max_steps"] = int(s.c2mf_max_steps)
    settings = {"sae_width": s.sae_width, "sae_epochs": s.sae_epochs,
                "sae_learning_rate": s.sae_learning_rate,
                "sae_images_per_batch": s.sae_images_per_batch}
    res = image_ground(store, load_truth(truth_dir, "test"), view, methods=s.methods,
                       knobs=s.knobs(), seeds=s.seeds, settings=settings, stream_kw=stream_kw,
                       runs_dir=RUNS / args.dataset, batch_images=s.batch_images)
    res.update(dataset=args.dataset, settings=dataclasses.asdict(s),
               n_train_images=int(view.split.train.size), n_test_images=int(view.split.test.size))
    OUT.mkdir(parents=True, exist_ok=True)
    write_json(OUT / f"{args.dataset}.json", res)  # refuses NaN before anything is written
    write_text(OUT / f"{args.dataset}.md", ground_markdown(res, args.dataset))
    ground_figure(res["rows"], OUT / f"{args.dataset}.png", f"{args.dataset} ground")
    print(f"grounds ({args.dataset}): {len(res['rows'])} rows -> {OUT}/{args.dataset}.md")


if __name__ == "__main__":
    main()
