"""Render the HTML report: Markdown by markdown-it-py, the page by a Jinja2 template.

No framework, no script, no network: images are referenced by paths relative to the report file,
so the page opens from the file system. Markdown tables dropped by any stage into
``reports/<ds>/*.md`` are rendered as CommonMark with tables; raw HTML in them is escaped.

A section is a plain dict::

    {"name": str, "summary": [(key, value), ...], "params": dict, "notes": [str],
     "tables": [{"title": str, "markdown": str, "base": str}],
     "json": [{"title": str, "text": str}],
     "images": [{"title": str, "caption": str, "flags": [str],
                 "rows": [{"label": str, "src": str}], "details": [{"label": str, "src": str}]}]}
"""

from __future__ import annotations

import functools
import json
import re
from html.parser import HTMLParser
from typing import Any

__all__ = ["markdown_to_html", "render_report", "report_links"]

_HEADING_SHIFT = 3  # the page's own h1-h3 stay above the tables' headings


def _relative(src: str) -> bool:
    return not (re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", src) or src.startswith(("/", "#")))


@functools.cache
def _md():
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")

    def shift_and_rebase(state):
        base = state.env.get("base", "")
        for tok in state.tokens:
            if tok.type in ("heading_open", "heading_close"):
                tok.tag = f"h{min(6, int(tok.tag[1]) + _HEADING_SHIFT)}"
            for child in tok.children or ():
                if child.type == "image" and _relative(src := child.attrGet("src") or ""):
                    child.attrSet("src", base + src)

    md.core.ruler.push("jaxconcepts_report", shift_and_rebase)
    return md


def markdown_to_html(text: str, *, base: str = "") -> str:
    """CommonMark + tables to HTML, raw HTML escaped, headings shifted down by three levels and
    relative image sources prefixed by ``base`` (the Markdown file's folder relative to the page).
    """
    return _md().render(text, {"base": base})


@functools.cache
def _template():
    import jinja2

    from jaxconcepts.viz._template import PAGE

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    return env.from_string(PAGE)


def _anchor(name: str) -> str:
    return "ds-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _section(sec: dict[str, Any]) -> dict[str, Any]:
    from markupsafe import Markup

    summary = [(str(k), v if isinstance(v, str) else json.dumps(v, sort_keys=True))
               for k, v in sec.get("summary") or []]
    params = sec.get("params")
    return {
        "name": sec["name"],
        "heading": sec.get("heading", f"Dataset: {sec['name']}"),
        "anchor": _anchor(sec["name"]),
        "summary": summary,
        "explorer": sec.get("explorer"),
        "params": json.dumps(params, indent=2, sort_keys=True, default=str) if params else "",
        "notes": sec.get("notes", []),
        "tables": [{"title": t["title"],
                    "html": Markup(markdown_to_html(t["markdown"], base=t.get("base", "")))}
                   for t in sec.get("tables", [])],
        "json": sec.get("json", []),
        "images": [{"title": "", "caption": "", "flags": [], "rows": [], "details": [], **img}
                   for img in sec.get("images", [])],
    }


def render_report(sections: list[dict], *, title: str = "jaxconcepts report",
                  generated: str = "", pages: list[tuple[str, str]] | None = None,
                  explorers: list[tuple[str, str]] | None = None) -> str:
    """The full HTML page for the given dataset sections (see the module docstring).

    ``pages``: ``(name, href)`` links to other report pages, shown as navigation;
    ``explorers``: ``(name, href)`` links to the datasets' concept explorers (the index).
    """
    return _template().render(title=title, generated=generated, pages=pages or [],
                              explorers=explorers or [],
                              sections=[_section(s) for s in sections])


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href") and v is not None:
                self.links.append(v)


def report_links(page: str) -> list[str]:
    """Every ``src`` / ``href`` value in an HTML page (in document order)."""
    p = _Links()
    p.feed(page)
    return p.links
