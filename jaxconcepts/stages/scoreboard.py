"""Stage ``scoreboard`` (the second pipeline, ``scoreboard/dvc.yaml``): every concept method on
the synthetic ground with known atoms (issue 24), at matched explained variance.

Reads its own params file (``scoreboard/params.yaml``, section ``scoreboard``: the ground's
size and the methods' training settings; the main pipeline's ``params.yaml`` is untouched).
Draws a SynthSAEBench-style ground (:func:`jaxconcepts.sae.synthetic_features`: more atoms than
dimensions, Zipfian firing, hierarchy, noise), runs :func:`jaxconcepts.sae.synthetic_scoreboard`
(each method's sparsity or size matched to each target R²; MCC, F1 at |cos| ≥ 0.9, dead latents;
a paired 95 % interval against its random counterpart; PW-MCC over independent seeds), keeps
each seed's atoms under ``data/scoreboard/runs/<settings hash>/`` (a killed run resumes per
seed), and writes ``reports/scoreboard/scoreboard.{json,md}`` and ``scoreboard.png`` (R²
against MCC, one point per method and target). The ground is in memory (``n_rows`` rows); the
streamed fits are :func:`jaxconcepts.sae.fit_sae_streamed`'s, tested equal to these.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import yaml

from jaxconcepts._io import atomic_path, write_json, write_text
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
    width: int
    epochs: int
    batch_size: int
    learning_rate: float
    seeds: list
    targets: list
    methods: list

    @classmethod
    def load(cls, path) -> "Settings":
        section = (yaml.safe_load(Path(path).read_text()) or {}).get("scoreboard")
        if not isinstance(section, dict):
            raise ValueError(f"{str(path)!r} has no `scoreboard` section")
        names = [f.name for f in dataclasses.fields(cls)]
        bad, missing = sorted(set(section) - set(names)), sorted(set(names) - set(section))
        if bad or missing:
            raise ValueError(f"scoreboard params: unknown keys {bad}, missing keys {missing}; "
                             f"valid keys: {names}")
        s = cls(**section)
        if len(set(s.seeds)) < 5:
            raise ValueError(f"scoreboard.seeds={s.seeds}: stability needs >= 5 distinct seeds")
        if not all(0.0 < t < 1.0 for t in s.targets):
            raise ValueError(f"scoreboard.targets={s.targets} should be R² values in (0, 1)")
        return s


def _table(rows: list[dict]) -> str:
    out = ["| method | R² target | setting | R² | MCC | F1 | dead | vs random (MCC diff, 95 %) "
           "| PW-MCC (independent seeds) | atoms found again |", "|" + "---|" * 10]
    for r in rows:
        if not r["reached"]:
            out.append(f"| {r['method']} | {r['target']} | not reached (R² "
                       f"{r.get('r2_at_range_end', float('nan')):.3f} at the knob's range end) "
                       "| | | | | | | |")
            continue
        v, st = r["vs_random"], r["stability"]
        verdict = "beats it" if v["low"] > 0 else "does not beat it"
        out.append(
            f"| {r['method']} | {r['target']} | {r['knob']} = {r['value']:g} | {r['r2']:.3f} | "
            f"{r['mcc']:.3f} | {r['f1']:.2f} | {r['dead']:.1f} | {v['mean']:+.3f} "
            f"[{v['low']:+.3f}, {v['high']:+.3f}]: {verdict} | {st['pw_mcc']:.3f} | "
            f"{st['shared']:.2f} |")
    return "\n".join(out) + "\n"


def _figure(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for i, m in enumerate(dict.fromkeys(r["method"] for r in rows)):
        pts = [r for r in rows if r["method"] == m and r["reached"]]
        if pts:
            ax.plot([r["r2"] for r in pts], [r["mcc"] for r in pts], marker="os^vDP<>"[i % 8],
                    linestyle="-", label=m, color=f"C{i % 10}")
    ax.set_xlabel("explained variance R² (matched to each target)")
    ax.set_ylabel("MCC against the true atoms")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Synthetic ground: recovery at matched R²", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)


def main(argv: list[str] | None = None) -> None:
    from jaxconcepts.sae import synthetic_features, synthetic_scoreboard

    parser = stage_parser(__doc__.splitlines()[0], dataset=False)
    parser.set_defaults(params="scoreboard/params.yaml")
    args = parser.parse_args(argv)
    s = Settings.load(args.params)
    d = synthetic_features(s.n_rows, dim=s.dim, n_features=s.n_features, seed=s.ground_seed,
                           hierarchy=s.hierarchy, noise=s.noise)
    fit_kwargs = {"width": s.width, "epochs": s.epochs, "batch_size": s.batch_size,
                  "learning_rate": s.learning_rate}
    key = hashlib.sha256(json.dumps(dataclasses.asdict(s), sort_keys=True).encode()).hexdigest()
    rows = synthetic_scoreboard(d.A, d.W, RUNS / key[:16], methods=s.methods,
                                targets=s.targets, seeds=s.seeds, fit_kwargs=fit_kwargs)
    json.dumps(rows, allow_nan=False)  # refuse NaN before writing anything
    OUT.mkdir(parents=True, exist_ok=True)
    write_json(OUT / "scoreboard.json", {"settings": dataclasses.asdict(s), "rows": rows})
    write_text(OUT / "scoreboard.md", (
        "## Methods' scoreboard: synthetic ground\n\n"
        f"{s.n_rows} rows of dimension {s.dim} from {s.n_features} known atoms (Zipfian firing, "
        f"hierarchy {s.hierarchy}, noise {s.noise}). Each method's sparsity or size is matched "
        "to each target R² on seed 0, then fitted on every seed: MCC and F1 (|cos| ≥ 0.9) "
        "against the true atoms, dead latents, the paired 95 % t interval of its MCC minus its "
        "random counterpart's on the same seeds (random frozen decoder for the SAEs, random "
        "directions for SemiNMF and k-means), and PW-MCC between independently initialised "
        f"seeds ({len(s.seeds)}).\n\n" + _table(rows) + "\n![R² against MCC](scoreboard.png)\n"))
    _figure(rows, OUT / "scoreboard.png")
    print(f"scoreboard: {len(rows)} rows -> {OUT}/scoreboard.md")


if __name__ == "__main__":
    main()
