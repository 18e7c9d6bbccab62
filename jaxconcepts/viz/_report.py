"""Render the self-contained HTML report: a string template filled with escaped plain data.

No framework, no script, no network: images are referenced by paths relative to the report file,
so ``reports/index.html`` opens from the file system. Markdown tables dropped by any stage into
``reports/<ds>/*.md`` are converted here (tables, headings and paragraphs only).

A section is a plain dict::

    {"name": str, "summary": [(key, value), ...], "params": dict, "notes": [str],
     "tables": [{"title": str, "markdown": str}], "json": [{"title": str, "text": str}],
     "images": [{"title": str, "caption": str, "flags": [str],
                 "rows": [{"label": str, "src": str}], "details": [{"label": str, "src": str}]}]}
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Any

from jaxconcepts.viz._template import PAGE

__all__ = ["markdown_to_html", "render_report", "report_links"]

_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line.removeprefix("|")
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def _inline(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def _align(sep: str) -> list[str]:
    out = []
    for c in _cells(sep):
        c = c.strip()
        out.append(
            "right"
            if c.endswith(":") and not c.startswith(":")
            else "center"
            if c.startswith(":") and c.endswith(":")
            else ""
        )
    return out


def markdown_to_html(text: str, *, base: str = "") -> str:
    """Convert the Markdown the stages write (pipe tables, ``#`` headings, ``-`` bullet lists,
    paragraphs, images alone on a line) to HTML.

    Everything is escaped; only ``code`` and **bold** inline marks are kept. Anything else is shown
    as plain text. Image lines ``![alt](src)`` become ``<img>`` with ``src`` prefixed by ``base``
    (the Markdown file's folder relative to the page).
    """
    lines = text.splitlines()
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def flush():
        if para:
            out.append("<p>" + _inline(" ".join(para)) + "</p>")
            para.clear()
        if items:
            out.append("<ul>\n" + "\n".join(f"<li>{_inline(t)}</li>" for t in items) + "\n</ul>")
            items.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if "|" in line and i + 1 < len(lines) and _SEP.match(lines[i + 1]):
            flush()
            head, align = _cells(line), _align(lines[i + 1])
            style = [f' style="text-align:{a}"' if a else "" for a in align] + [""] * len(head)
            rows = [
                "<tr>"
                + "".join(f"<th{style[j]}>{_inline(c)}</th>" for j, c in enumerate(head))
                + "</tr>"
            ]
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                cells = _cells(lines[i])
                rows.append(
                    "<tr>"
                    + "".join(f"<td{style[j]}>{_inline(c)}</td>" for j, c in enumerate(cells))
                    + "</tr>"
                )
                i += 1
            out.append("<table>\n" + "\n".join(rows) + "\n</table>")
            continue
        im = re.match(r"^!\[([^\]]*)\]\(([^)\s]+)\)\s*$", line.strip())
        if im:
            flush()
            alt, src = im.group(1), base + im.group(2)
            out.append(f"<figure>{_img(src, alt)}<figcaption>{html.escape(alt)}</figcaption>"
                       "</figure>")
            i += 1
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            flush()
            level = min(6, len(m.group(1)) + 3)  # the report's own h1-h3 stay above
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif not line.strip():
            flush()
        elif re.match(r"^\s*[-*]\s+", line):
            if para:
                out.append("<p>" + _inline(" ".join(para)) + "</p>")
                para.clear()
            items.append(re.sub(r"^\s*[-*]\s+", "", line))
        elif items and line.startswith("  "):
            items[-1] += " " + line.strip()  # continuation of the last bullet
        else:
            if items:
                flush()
            para.append(line.strip())
        i += 1
    flush()
    return "\n".join(out)


def _kv_table(items: Iterable[tuple[str, Any]]) -> str:
    rows = []
    for k, v in items:
        v = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        rows.append(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(v)}</td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>" if rows else ""


def _anchor(name: str) -> str:
    return "ds-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _img(src: str, alt: str) -> str:
    src, alt = html.escape(src, quote=True), html.escape(alt, quote=True)
    return f'<img src="{src}" alt="{alt}" loading="lazy">'


def _image_block(img: dict) -> str:
    parts = [f'<div class="image">\n<h4>{html.escape(img.get("title", ""))}</h4>']
    if img.get("caption"):
        parts.append(f"<p>{html.escape(img['caption'])}</p>")
    for flag in img.get("flags", []):
        parts.append(f'<p class="flag">&#9888; {html.escape(flag)}</p>')
    for row in img.get("rows", []):
        parts.append(
            f'<p class="muted">{html.escape(row["label"])}</p>\n{_img(row["src"], row["label"])}'
        )
    for det in img.get("details", []):
        parts.append(
            f"<details><summary>{html.escape(det['label'])}</summary>\n"
            f"{_img(det['src'], det['label'])}\n</details>"
        )
    parts.append("</div>")
    return "\n".join(parts)


def _section(sec: dict) -> str:
    name = sec["name"]
    parts = [f'<h2 id="{_anchor(name)}">Dataset: {html.escape(name)}</h2>']
    if sec.get("summary"):
        parts.append("<h3>Run and model</h3>\n" + _kv_table(sec["summary"]))
    if sec.get("params"):
        parts.append(
            "<details><summary>Parameters (params.yaml, this dataset)</summary>\n<pre>"
            + html.escape(json.dumps(sec["params"], indent=2, sort_keys=True, default=str))
            + "</pre></details>"
        )
    for note in sec.get("notes", []):
        parts.append(f'<p class="flag">&#9888; {html.escape(note)}</p>')
    for t in sec.get("tables", []):
        parts.append(f"<h3>{html.escape(t['title'])}</h3>\n" + markdown_to_html(t["markdown"], base=t.get("base", "")))
    for j in sec.get("json", []):
        parts.append(
            f"<details><summary>{html.escape(j['title'])}</summary>\n<pre>{html.escape(j['text'])}</pre></details>"
        )
    images = sec.get("images", [])
    if images:
        parts.append(f"<h3>Images ({len(images)})</h3>")
        parts.extend(_image_block(img) for img in images)
    return "\n".join(parts)


def render_report(
    sections: list[dict], *, title: str = "jaxconcepts report", generated: str = ""
) -> str:
    """The full HTML page for the given dataset sections (see the module docstring)."""
    nav = " ".join(
        f'<a href="#{_anchor(s["name"])}">{html.escape(s["name"])}</a>' for s in sections
    )
    body = "\n".join(_section(s) for s in sections) or "<p>No dataset.</p>"
    return PAGE.substitute(
        title=html.escape(title), generated=html.escape(generated), nav=nav, body=body
    )


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
