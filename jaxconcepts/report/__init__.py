"""The report layer: every Markdown page the pipeline writes, from the data the stages computed.

The evaluation modules return data (dicts, rows, arrays); the stages hand that data to the
functions here and write the text. The prose is in Jinja templates shipped with the package
(``jaxconcepts/report/templates/*.md.j2``), every number goes through one formatter
(:func:`num`, with its ``mean ± std`` and ``mean [lo, hi]`` layouts :func:`pm` and
:func:`interval`) and every table through one helper (:func:`table`). This package imports no
other ``jaxconcepts`` folder (only NumPy and Jinja): it reads the data by key or attribute.

Pages: ``c2mf.md`` (:func:`markdown_report`, :func:`c2mf_disabled_markdown`),
``c2mf_atlas.md`` (:func:`atlas_markdown`, :func:`no_atlas_markdown`), ``c2mf_alpha_sweep.md``
(:func:`alpha_sweep_markdown`), ``compare.md`` (:func:`compare_markdown`), ``ood.md``
(:func:`ood_markdown` + :func:`object_split_markdown`), ``recovery.md``
(:func:`recognition_markdown` + :func:`recovery_markdown`) and the scoreboard's pages
(:func:`scoreboard_markdown`, :func:`ground_markdown`). Not here: the one-line page of a stage
turned off for a dataset (``stages/_common.write_disabled``, which every stage imports: from here
it would make every stage, ``extract`` and ``train`` included, depend on this package in DVC).
"""

from jaxconcepts.report._alpha import alpha_sweep_markdown, alpha_sweep_table
from jaxconcepts.report._atlas import (
    atlas_markdown,
    name_accuracy_markdown,
    naming_table,
    no_atlas_markdown,
    recipe_table,
)
from jaxconcepts.report._boards import (
    ground_markdown,
    ground_table,
    scoreboard_markdown,
    scoreboard_table,
)
from jaxconcepts.report._c2mf import METHOD_NAMES, MIN_SUPPORT, markdown_report, solved_note
from jaxconcepts.report._c2mf import disabled_markdown as c2mf_disabled_markdown
from jaxconcepts.report._compare import PAPER, compare_markdown
from jaxconcepts.report._format import MISSING, interval, num, pm, table
from jaxconcepts.report._ood import (
    PAPER_CONFIDENCE,
    PAPER_TABLE4,
    object_split_markdown,
    ood_markdown,
    ood_table,
)
from jaxconcepts.report._recovery import recognition_markdown, recovery_markdown
from jaxconcepts.report._render import render

__all__ = [
    "num", "pm", "interval", "table", "MISSING", "render",
    "markdown_report", "c2mf_disabled_markdown", "solved_note", "METHOD_NAMES", "MIN_SUPPORT",
    "atlas_markdown", "no_atlas_markdown", "name_accuracy_markdown", "naming_table",
    "recipe_table",
    "alpha_sweep_markdown", "alpha_sweep_table",
    "compare_markdown", "PAPER",
    "ood_markdown", "ood_table", "object_split_markdown", "PAPER_TABLE4", "PAPER_CONFIDENCE",
    "recovery_markdown", "recognition_markdown",
    "scoreboard_markdown", "scoreboard_table", "ground_markdown", "ground_table",
]
