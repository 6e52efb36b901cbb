"""PDF page filling (attnstudy.report.pages): a figure too tall for what is left of a page moves
past the text after it instead of leaving the page over a third blank; figures keep their order."""

import re

import pytest

from attnstudy.report import pages

weasyprint = pytest.importorskip("weasyprint")

WORDS = " ".join(f"word{i}" for i in range(60))
DOC = """<!doctype html><html><head><style>
@page {{ size: A5; margin: 15mm; }}
figure {{ break-inside: avoid; margin: 0; }}
#fig-one div {{ height: 90mm; background: #888; }}
#fig-two div {{ height: 20mm; background: #888; }}
p {{ margin: 0 0 3mm; }}
</style></head><body><article><section id="s-a"><h2>A</h2>
{before}
<figure id="fig-one"><div></div><figcaption>Figure 1.</figcaption></figure>
<figure id="fig-two"><div></div><figcaption>Figure 2.</figcaption></figure>
{after}
</section></article></body></html>"""


def _render(html):
    return weasyprint.HTML(string=html).render()


def _doc(before_mm: int, n_after: int) -> str:
    """A block `before_mm` tall, the two figures (90 and 20 mm), then text on an A5 page."""
    return DOC.format(before=f'<p style="height:{before_mm}mm">x</p>',
                      after="<p>" + WORDS * n_after + "</p>")


def _gaps(doc):
    return [(i, round(blank, 2)) for i, blank, fig in pages._page_gaps(doc)
            if fig and blank > pages.GAP]


def test_a_figure_that_leaves_a_gap_moves_past_the_text_after_it():
    html = _doc(100, 4)  # 80 mm left on page 1: figure 1 does not fit
    before = _render(html)
    assert _gaps(before), "the fixture must leave a gap, or the test proves nothing"
    filled, doc = pages.fill(html, _render)
    assert _gaps(doc) == [] and len(doc.pages) <= len(before.pages)
    assert pages.score(doc) < pages.score(before)
    # both figures moved together, in order, after the paragraph that now fills the page
    assert re.findall(r'id="(fig-\w+)"', filled) == ["fig-one", "fig-two"]
    assert filled.index(WORDS * 4) < filled.index('id="fig-one"')


def test_a_page_without_a_gap_is_left_alone():
    html = _doc(20, 1)
    filled, doc = pages.fill(html, _render)
    assert filled == html and _gaps(doc) == []
