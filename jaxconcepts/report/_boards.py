"""The methods' scoreboard pages (``reports/scoreboard/``): the synthetic ground
(``scoreboard.md``, from ``scoreboard.json``: :func:`jaxconcepts.sae.synthetic_scoreboard`'s rows
with the settings) and each dataset's image ground (``<ds>.md``, from ``<ds>.json``:
:func:`jaxconcepts.evaluation._grounds.image_ground`'s rows)."""

from __future__ import annotations

from collections.abc import Mapping

from jaxconcepts.report._format import num, table
from jaxconcepts.report._render import render

__all__ = ["scoreboard_table", "scoreboard_markdown", "ground_table", "ground_markdown"]


def scoreboard_table(rows: list[dict]) -> str:
    """The synthetic ground's table: one row per method, fit and R² target."""
    out = []
    for r in rows:
        head = [r["method"], f"{r['path'].replace('_', ' ')} ({r['data']})", r["target"]]
        if not r["reached"]:
            end = num(r.get("r2_at_range_end", float("nan")), ".3f", missing="nan")
            out.append([*head, f"not reached (R² {end} at the knob's range end)", *[None] * 7])
            continue
        v, st = r["vs_random"], r["stability"]
        verdict = "beats it" if v["low"] > 0 else "does not beat it"
        setting = f"{r['knob']} = {num(r['value'], 'g')}"
        if r.get("at_sparsest_end"):
            setting += " (the knob's sparsest end: R² does not come down to the target)"
        out.append([*head, setting, num(r["r2"]), num(r["mcc"]),
                    num(r["f1"], ".2f"), num(r["dead"], ".1f"),
                    f"{num(v['mean'], '+.3f')} [{num(v['low'], '+.3f')}, "
                    f"{num(v['high'], '+.3f')}]: {verdict}", num(st["pw_mcc"]),
                    num(st["shared"], ".2f")])
    return table(["method", "fit (rows)", "R² target", "setting", "R²", "MCC", "F1", "dead",
                  "vs random (MCC diff, 95 %)", "PW-MCC (independent seeds)",
                  "atoms found again"], out) + "\n"


def scoreboard_markdown(result: Mapping) -> str:
    """``scoreboard.md`` of the ``scoreboard`` stage's result (``settings``, ``class_rows``,
    ``nonnegative_mcc_ceiling``, ``rows``)."""
    s, counts = result["settings"], result["class_rows"]
    return render("scoreboard.md.j2", s=s, n_seeds=len(s["seeds"]),
                  shares=", ".join(num(c / sum(counts), ".0%") for c in counts),
                  ceiling=num(result["nonnegative_mcc_ceiling"]),
                  table=scoreboard_table(result["rows"]))


def _vs(v: dict | None) -> str:
    if not v:
        return "–"
    word = "beats it" if v["low"] > 0 else "below it" if v["high"] < 0 else "not separated"
    return f"{num(v['mean'], '+.3f')} [{num(v['low'], '+.3f')}, {num(v['high'], '+.3f')}]: {word}"


def ground_table(rows: list[dict]) -> str:
    """The Markdown table of :func:`jaxconcepts.evaluation._grounds.image_ground`'s rows (each
    score: the method's mean over the seeds, its random counterpart's in brackets)."""
    out = []
    for r in rows:
        def both(key, spec=".3f", r=r):
            return f"{num(r[key], spec)} ({num(r['random'][key], spec)})"

        out.append([
            r["method"], f"{r['knob']} = {num(r['setting'], 'g')}", both("r2"),
            both("mean_best_corr"), num(r["matched_fraction"], ".2f"),
            f"{num(r['precision'], '.2f')} / {num(r['recall'], '.2f')}",
            f"{both('coverage@0.3', '.2f')} / {both('coverage@0.5', '.2f')}",
            both("mean_best_iou"), both("importance_hit", ".2f"),
            _vs(r["vs_random"].get("mean_best_iou")), _vs(r["vs_random"].get("importance_hit")),
            num(r["stability"]["pw_mcc"]), num(r["stability"]["shared"], ".2f"),
            num(r["dead"], ".1f")])
    return table(["method", "setting", "R²", "mean best corr", "classes localised",
                  "recipe P / R", "Coverage@0.3 / @0.5", "mean best IoU", "importance hit",
                  "vs random: best IoU (95 %)", "vs random: importance hit (95 %)", "PW-MCC",
                  "atoms found again", "dead"], out) + "\n"


def ground_markdown(res: Mapping, ds: str) -> str:
    """``<ds>.md`` of the ``grounds`` stage's result (``n_train_images``, ``n_test_images``,
    ``seeds``, ``rows``)."""
    planted = ds.startswith("planted")
    return render("ground.md.j2", ds=ds, res=res, n_seeds=len(res["seeds"]),
                  what="planted parts" if planted else "objects' masks",
                  mask="part" if planted else "object", table=ground_table(res["rows"]))
