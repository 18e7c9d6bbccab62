"""``viz/_template.py``: the HTML report's page template (inline CSS, no script, autoescaped)."""

import jinja2

from jaxconcepts.viz._template import PAGE


def _render(**ctx):
    env = jinja2.Environment(autoescape=True)
    ctx = {"title": "T", "generated": "now", "pages": [], "explorers": [], "sections": []} | ctx
    return env.from_string(PAGE).render(**ctx)


def test_page_is_self_contained():
    assert "<script" not in PAGE and "://" not in PAGE  # no script, no CDN
    page = _render()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<p>No dataset.</p>" in page


def test_page_escapes_values_and_lists_sections():
    sec = {"anchor": "ds-a", "name": "a", "heading": "a <b>", "summary": [("model", "m&n")],
           "params": None, "notes": ["<x>"], "tables": [], "json": [], "images": [],
           "explorer": None}
    page = _render(title="A & B", sections=[sec])
    assert "<title>A &amp; B</title>" in page
    assert '<h2 id="ds-a">a &lt;b&gt;</h2>' in page
    assert "<tr><th>model</th><td>m&amp;n</td></tr>" in page
    assert "&#9888; &lt;x&gt;" in page
    assert "No dataset" not in page
    # one section (each dataset's page): no table of contents of one link, the heading below it
    assert '<a href="#ds-a">' not in page
    two = _render(sections=[sec, {**sec, "anchor": "ds-b", "name": "b"}])
    assert '<nav><a href="#ds-a">a</a><a href="#ds-b">b</a></nav>' in two


def test_page_links_pages_and_explorers():
    page = _render(pages=[("photos", "photos.html")], explorers=[("planted", "p/index.html")])
    assert '<a href="photos.html">photos</a>' in page
    assert '<li><a href="p/index.html">planted</a></li>' in page
    assert "No dataset" not in page
