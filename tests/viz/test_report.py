"""HTML report rendering: Markdown tables, escaping, links."""

from jaxconcepts.viz import markdown_to_html, render_report, report_links

MD = """# Clustering comparison

Mean over images.

| method | silhouette | time (ms) |
|---|:---:|---:|
| cgap | 0.41 | 4.5 |
| cpha `exact` | **0.52** | 0.5 |

trailing <b>text</b>
"""


def test_markdown_table_to_html():
    out = markdown_to_html(MD)
    assert "<h4>Clustering comparison</h4>" in out
    assert "<p>Mean over images.</p>" in out
    assert '<th style="text-align:center">silhouette</th>' in out
    assert '<td style="text-align:right">4.5</td>' in out
    assert "<td>cpha <code>exact</code></td>" in out and "<strong>0.52</strong>" in out
    assert out.count("<tr>") == 3
    assert "&lt;b&gt;text&lt;/b&gt;" in out  # raw HTML in Markdown is escaped, not trusted


def test_render_report_escapes_and_lists_links():
    sec = {
        "name": "photos",
        "summary": [("model", "tf_efficientnet_lite0"), ("n_images", 2)],
        "params": {"importance": {"target": "pred"}},
        "notes": ["1 image skipped: <bad.jpg> unreadable"],
        "tables": [{"title": "compare.md", "markdown": MD}],
        "json": [{"title": "importance.json", "text": '{"a": 1}'}],
        "images": [
            {
                "title": "cat.jpg",
                "caption": "predicted: tabby cat (p_t = 0.91)",
                "flags": ["CPHA: fewer than 5 concepts (3 found)"],
                "rows": [{"label": "CGAP", "src": "photos/figures/0_cgap.png"}],
                "details": [{"label": "CGAP sub-concepts", "src": "photos/figures/0_cgap_sub.png"}],
            }
        ],
    }
    page = render_report([sec], title="T & co", generated="now")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>T &amp; co</title>" in page
    assert "&lt;bad.jpg&gt;" in page and "<bad.jpg>" not in page
    assert "<details><summary>CGAP sub-concepts</summary>" in page
    assert "fewer than 5 concepts" in page
    assert report_links(page) == [  # one dataset: no table of contents of one link
        "photos/figures/0_cgap.png",
        "photos/figures/0_cgap_sub.png",
    ]
    assert "http" not in page  # no CDN, no network
    assert "<th>n_images</th><td>2</td>" in page and "<td>tf_efficientnet_lite0</td>" in page
    assert "<h4>Clustering comparison</h4>" in page  # the Markdown is rendered, not escaped
    nav = render_report([], title="T", pages=[("photos", "photos.html")])
    assert report_links(nav) == ["photos.html"] and "No dataset" not in nav
    assert "No dataset" in render_report([], title="T")


def test_markdown_links_are_not_trusted():
    out = markdown_to_html("[x](javascript:alert(1)) ![y](http://e.org/a.png) ![z](/abs.png)",
                           base="ds/")
    assert "href" not in out  # a javascript: link stays text
    assert 'src="http://e.org/a.png"' in out and 'src="/abs.png"' in out  # only relative rebased


def test_markdown_bullets_become_a_list():
    out = markdown_to_html("Findings:\n\n- one **holds**\n- two\n  continued\n\nafter")
    assert "<ul>\n<li>one <strong>holds</strong></li>\n<li>two\ncontinued</li>\n</ul>" in out
    assert out.rstrip().endswith("<p>after</p>")


def test_markdown_image_line_becomes_a_linked_figure():
    out = markdown_to_html("text\n\n![Fig. 4 <x>](figs/a b.png)\n", base="planted/")
    assert '<img src="planted/figs/a b.png"' not in out  # a space is not a valid link target
    out = markdown_to_html("text\n\n![Fig. 4 <x>](figs/a.png)\n", base="planted/")
    assert '<img src="planted/figs/a.png" alt="Fig. 4 &lt;x&gt;"' in out
    assert report_links(out) == ["planted/figs/a.png"]
