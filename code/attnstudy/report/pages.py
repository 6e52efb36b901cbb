"""Fill the PDF's pages: move a figure that left a page more than a third blank.

WeasyPrint keeps a figure whole, so a figure that does not fit in what is left of a page goes to
the next one and leaves the rest blank; it has no floats that wait for the next page while text
flows on. `fill(html, render)` does what LaTeX does with floats: where a page is more than
`GAP` blank and the next page starts with a figure, that figure (with the figures right after it)
moves past the text that follows it, or else before the table or paragraph just before it; a move
is kept only if the layout gets better. Figures keep their order and their section (h2).

    html = fill(html, lambda h: weasyprint.HTML(string=h).render())
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser

GAP = 1 / 3         # a page blank over more than this share of its height has a gap
MAX_RENDERS = 6     # layouts tried in all (the first included): each takes seconds
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
FLOWING = {"p", "ul", "ol", "div"}  # blocks that may split across pages (div: a table-wrap)
BLOCKS = {"figure", "p", "table", "h2", "h3", "ul", "ol", "pre"}  # what starts a page


class _Blocks(HTMLParser):
    """The direct children of each <section>: [tag, id, class, start offset, end offset]."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=False)
        self.lines = [0]
        for line in html.splitlines(keepends=True):
            self.lines.append(self.lines[-1] + len(line))
        self.stack: list[list] = []   # open elements: [tag, id, class, start, children]
        self.sections: list[list[list]] = []
        self.feed(html)
        self.close()

    def _offset(self) -> int:
        line, col = self.getpos()
        return self.lines[line - 1] + col

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        node = [tag, a.get("id"), a.get("class") or "", self._offset(), None, []]
        if self.stack and self.stack[-1][0] == "section":
            self.stack[-1][5].append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        while self.stack:
            node = self.stack.pop()
            node[4] = self._offset() + len(f"</{tag}>")  # an unclosed child ends here too
            if node[0] == "section":
                self.sections.append(node[5])
            if node[0] == tag:
                break


def _page_gaps(doc) -> list[tuple[int, float, str | None]]:
    """Per page but the last: (index, blank share below its content, id of the first element
    with an id on the next page that is a figure, else None)."""
    def walk(box):
        yield box
        for child in getattr(box, "children", None) or []:
            yield from walk(child)

    out, firsts = [], []
    for page in doc.pages:
        box = page._page_box
        root = next(c for c in box.children if getattr(c, "element_tag", None) == "html")
        bottom, first = box.margin_top, None
        for b in walk(root):
            if type(b).__name__ in ("LineBox", "BlockReplacedBox", "InlineReplacedBox",
                                    "TableRowBox") and b.height:
                bottom = max(bottom, b.position_y + b.margin_height())
            el = getattr(b, "element", None)
            if first is None and el is not None and el.tag in BLOCKS:
                first = el.get("id") if el.tag == "figure" else ""
        top, end = box.margin_top, page.height - box.margin_bottom
        out.append((end - bottom) / (end - top))
        firsts.append(first or None)
    return [(i, out[i], firsts[i + 1]) for i in range(len(out) - 1)]


def score(doc) -> tuple[int, float]:
    """(pages, total blank share beyond GAP on pages followed by a figure): lower is better."""
    return (len(doc.pages),
            sum(blank - GAP for _, blank, fig in _page_gaps(doc) if fig and blank > GAP))


def _moves(html: str, fig: str) -> list[str]:
    """The HTML with the run of figures starting at `fig` moved: past the next flowing block
    (with the h3 before it, if any), then before the flowing block just before the run."""
    for kids in _Blocks(html).sections:
        at = next((i for i, k in enumerate(kids) if k[0] == "figure" and k[1] == fig), None)
        if at is None:
            continue
        end = at
        while end + 1 < len(kids) and kids[end + 1][0] == "figure":
            end += 1
        run = html[kids[at][3]:kids[end][4]]
        out, nxt = [], end + 1
        if nxt < len(kids) and kids[nxt][0] == "h3":
            nxt += 1
        if nxt < len(kids) and kids[nxt][0] in FLOWING and "heat-text" not in kids[nxt][2]:
            cut = kids[nxt][4]
            out.append(html[:kids[at][3]] + html[kids[end][4]:cut] + run + html[cut:])
        if at > 0 and kids[at - 1][0] in FLOWING:
            start = kids[at - 1][3]
            out.append(html[:start] + run + html[start:kids[at][3]] + html[kids[end][4]:])
        return out
    return []


def fill(html: str, render: Callable[[str], object]) -> tuple[str, object]:
    """The HTML with figures moved where that fills pages, and its rendered document.

    Sweeps the gaps from the first page on: a move is taken when it closes its gap without
    adding a page, even if a later gap opens (the sweep gets to it next, as a deferred float
    pushes the next one); the best layout seen is returned."""
    doc = render(html)
    best = (score(doc), html, doc)
    renders, tried = 1, set()
    while renders < MAX_RENDERS:
        gaps = [(i, fig) for i, blank, fig in _page_gaps(doc)
                if fig and blank > GAP and fig not in tried]
        if not gaps:
            break
        page, fig = gaps[0]
        tried.add(fig)
        for candidate in _moves(html, fig):
            if renders >= MAX_RENDERS:
                break
            new = render(candidate)
            renders += 1
            if len(new.pages) <= len(doc.pages) and not any(
                    i <= page and blank > GAP and f for i, blank, f in _page_gaps(new)):
                html, doc = candidate, new
                best = min(best, (score(doc), html, doc), key=lambda b: b[0])
                break
    return best[1], best[2]
