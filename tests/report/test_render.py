"""``report/_render.py``: the Jinja environment of the report layer."""

from __future__ import annotations

import jinja2
import pytest

from jaxconcepts.report import render


def test_render_known_template_fills_values():
    md = render("atlas_none.md.j2", dataset="toyset")
    assert "toyset" in md
    assert md.endswith("\n")  # keep_trailing_newline


def test_render_missing_variable_raises():
    with pytest.raises(jinja2.UndefinedError):
        render("atlas_none.md.j2")


def test_render_unknown_template_raises():
    with pytest.raises(jinja2.TemplateNotFound):
        render("no_such_page.md.j2")
