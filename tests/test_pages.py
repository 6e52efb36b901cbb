"""PDF page filling (attnstudy.report.pages): a figure too tall for what is left of a page moves
past the text after it instead of leaving the page over a third blank; figures keep their order."""

import re
from pathlib import Path

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


# ----------------------------------------------------------------------------- the committed PDF

PDF = Path(__file__).parents[1] / "build" / "report.pdf"


def blank_fractions(pdf) -> list[float]:
    """Per page: the longest run of blank pixel rows in the text area (A4 minus the 20 mm top and
    22 mm bottom margins, so the running header and page number are left out), as a share of
    it; pages drawn in grey at 40 dpi by PDFium."""
    import pypdfium2

    out = []
    for page in pypdfium2.PdfDocument(str(pdf)):
        a = page.render(scale=40 / 72, grayscale=True).to_numpy()  # <uint8>[rows, columns]
        h = a.shape[0]
        ink = (a[int(h * 20 / 297):int(h * 275 / 297)] < 235).any(axis=1)
        run = best = 0
        for v in ink:
            run = 0 if v else run + 1
            best = max(best, run)
        out.append(best / len(ink))
    return out


def section_starts(reader) -> set[int]:
    """0-based pages on which a section (h2) begins: the PDF bookmarks one level below the
    title's (h1), or the top level when the title has none."""
    def level(items, depth):
        for o in items:
            if isinstance(o, list):
                yield from level(o, depth + 1)
            else:
                yield depth, reader.get_destination_page_number(o)

    marks = list(level(reader.outline, 0))
    top = 1 if sum(d == 0 for d, _ in marks) == 1 and len(marks) > 1 else 0
    return {p for d, p in marks if d == top}


def test_no_committed_pdf_page_is_over_a_third_blank_but_a_sections_last():
    """Issue #26: a page more than a third blank must end a section (the next page opens one)."""
    from pypdf import PdfReader

    if not PDF.is_file():
        pytest.skip("no build/report.pdf")
    reader = PdfReader(PDF)
    fracs, starts = blank_fractions(PDF), section_starts(reader)
    assert len(fracs) == len(reader.pages) and starts
    gaps = [(i + 1, round(f, 2)) for i, f in enumerate(fracs[:-1])
            if f > pages.GAP and i + 1 not in starts]
    assert gaps == [], f"pages (1-based) over a third blank mid-section: {gaps}"
