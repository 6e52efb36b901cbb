"""Citing the report: CITATION.cff is the text generated from paper/citation.toml, the BibTeX
entry parses and carries the required fields, the date and commit come from the results'
provenance, and a bad citation.toml is a one-line error. No render: see test_report.py for the
HTML head and the PDF metadata."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from attnstudy.errors import UserError
from attnstudy.report import citation

ROOT = Path(__file__).resolve().parents[1]


def parse_bibtex(text: str) -> tuple[str, str, dict[str, str]]:
    """(entry type, key, {field: value}) of one entry whose values are in braces; raises
    ValueError on unbalanced braces, a missing comma or trailing text."""
    m = re.fullmatch(r"\s*@(\w+)\{([^,\s{}]+),(.*)\}\s*", text, re.S)
    if not m:
        raise ValueError("not one @type{key, ...} entry")
    kind, key, body = m.groups()
    fields, i = {}, 0
    while i < len(body):
        f = re.compile(r"\s*(\w+)\s*=\s*\{").match(body, i)
        if not f:
            if body[i:].strip():
                raise ValueError(f"cannot parse {body[i:]!r}")
            break
        depth, j = 1, f.end()
        while depth:
            if j == len(body):
                raise ValueError(f"unbalanced braces in {f.group(1)}")
            depth += {"{": 1, "}": -1}.get(body[j], 0)
            j += 1
        fields[f.group(1).lower()] = body[f.end():j - 1]
        rest = re.compile(r"\s*(,|$)").match(body, j)
        if not rest or (rest.group(1) != "," and body[rest.end():].strip()):
            raise ValueError(f"no comma after {f.group(1)}")
        i = rest.end()
    return kind, key, fields


def test_the_bibtex_parser_refuses_broken_entries():
    assert parse_bibtex("@misc{k,\n  title = {A {B} c},\n  year = {2024}\n}")[2] == {
        "title": "A {B} c", "year": "2024"}
    for bad in ("@misc{k, title = {A {B c}, year = {2024}}", "@misc{k title = {A}}",
                "@misc{k, title = {A} year = {2024}}", "misc{k, title = {A}}"):
        with pytest.raises(ValueError):
            parse_bibtex(bad)


def _res(runs: list[dict | None]) -> dict:
    def prov(commit, finished, dirty=False):
        return {"git_commit": commit, "git_dirty": dirty, "started": finished,
                "finished": finished}
    return {"runs": [{"provenance": p and prov(*p)} for p in runs],
            "provenance": prov("c" * 40, "2025-03-09T12:00:00+00:00")}


def test_bibtex_and_plain_citation_carry_date_commit_and_version():
    meta = citation.load()
    res = _res([("a" * 40, "2025-01-02T23:30:00-02:00"), ("b" * 40, "2025-01-03T00:30:00+00:00",
                                                          True)])
    f = citation.facts(meta, res)  # the last run to finish is the first (01:30 UTC)
    assert (f["date"], f["commit"], f["dirty"]) == ("2025-01-02", "a" * 40, False)
    kind, key, fields = parse_bibtex(f["bibtex"])
    assert kind == "misc" and re.fullmatch(r"attnstudy2025v\d+", key)
    assert {"author", "title", "year", "version"} <= set(fields)
    assert "a" * 40 in fields["note"] and fields.get("url") == (meta.url or None)
    assert fields["title"] == meta.title and fields["version"] == meta.version
    assert fields["year"] == "2025" and fields["date"] == "2025-01-02"
    assert fields["author"] == " and ".join(
        f"{{{a.name}}}" if a.name else f"{a.family_names}, {a.given_names}" for a in meta.authors)
    for part in (meta.title, meta.version, "2025-01-02", "a" * 12, *f["authors"]):
        assert part in f["plain"], part
    assert f["highwire_date"] == "2025/01/02"

    old = citation.facts(meta, _res([None, None]))  # runs without their own record
    assert (old["date"], old["commit"]) == ("2025-03-09", "c" * 40)
    assert "results.json" in old["source"] and "c" * 40 in parse_bibtex(old["bibtex"])[2]["note"]
    dirty = citation.facts(meta, _res([("b" * 40, "2025-01-03T00:30:00+00:00", True)]))
    assert "uncommitted changes" in dirty["plain"] and "uncommitted" in dirty["bibtex"]


def test_citation_cff_is_generated_from_the_toml():
    committed = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    meta = citation.load()
    assert committed == citation.cff(meta), \
        "regenerate: python -m attnstudy.report.citation > CITATION.cff"
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(committed)
    assert doc["cff-version"] == "1.2.0" and doc["title"] == meta.title
    assert doc["version"] == meta.version and doc["keywords"] == meta.keywords
    assert [a.get("name") or a["family-names"] for a in doc["authors"]] == [
        a.name or a.family_names for a in meta.authors]
    assert doc["preferred-citation"]["type"] == "report"
    released = meta.changelog[-1].date
    assert doc.get("date-released") == released  # YAML reads an ISO date as a date


def test_changelog_ends_at_the_current_version_and_v1_is_dated():
    meta = citation.load()
    v1 = next(r for r in meta.changelog if r.version == "1.0.0")
    assert v1.date is not None and v1.commit
    assert meta.changelog[-1].version == meta.version


@pytest.mark.parametrize("edit,needle", [
    (lambda s: re.sub(r'(?m)^version = "[^"]+"$', 'version = "9.0.0"', s, count=1),
     "last changelog entry"),
    (lambda s: s.replace('name = "The attnstudy authors"', 'given-names = "Ann"'), "authors"),
    (lambda s: s.replace("title =", "titel ="), "title"),
    (lambda s: s + "\n[[[", "cannot read"),
])
def test_a_bad_citation_toml_is_one_line(tmp_path, edit, needle):
    text = (ROOT / "paper" / "citation.toml").read_text(encoding="utf-8")
    path = tmp_path / "citation.toml"
    path.write_text(edit(text), encoding="utf-8")
    with pytest.raises(UserError) as e:
        citation.load(path)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_title_and_description_ask_the_question():
    """What a citation manager imports states the study's question, not an answer the data
    may reject (issue #26: "Why attention matters" outlived the verdicts)."""
    meta = citation.load()
    text = f"{meta.title} {meta.description}"
    assert "?" in text
    for answer in ("why attention matters", "attention helps", "attention matters"):
        assert answer not in text.lower()
    assert meta.title in citation.cff(meta) and meta.description in citation.cff(meta)


def test_committed_report_states_its_version_and_its_own_content():
    """build/report.html (committed) states paper/citation.toml's version and a content id that
    is the digest of its own content; the committed PDF states the same pair."""
    from pypdf import PdfReader

    html = (ROOT / "build" / "report.html").read_text(encoding="utf-8")
    meta = citation.load()
    assert citation.stated_problems(html, meta) == []
    ((version, content),) = set(citation.STATED.findall(html))
    pdf = " ".join(" ".join(p.extract_text().split()) for p in
                   PdfReader(ROOT / "build" / "report.pdf").pages)
    assert f"Version {version} (content {content})" in pdf


def test_content_id_or_version_changes_whenever_the_content_does():
    """The content id is a digest of the whole rendered page: any edit changes it, and a version
    whose changelog records the content it was released with refuses other content."""
    meta = citation.load()
    page = f"<p>Version {meta.version} (content {citation.CONTENT})</p><p>accuracy 88.6%</p>"

    def rendered(text: str) -> str:
        return text.replace(citation.CONTENT, citation.content_id(text))

    one, same = rendered(page), rendered(page)
    other = rendered(page.replace("88.6%", "88.7%"))
    assert one == same and citation.stated_problems(one, meta) == []
    (_, a), (_, b) = (citation.STATED.search(h).groups() for h in (one, other))
    assert a != b and citation.stated_problems(other, meta) == []
    forged = other.replace("88.7%", "88.6%")  # content edited after the id was computed
    assert "not the digest" in citation.stated_problems(forged, meta)[0]
    stale = page.replace(meta.version, "0.0.1")
    assert "states version 0.0.1" in citation.stated_problems(rendered(stale), meta)[0]
    released = meta.model_copy(update={"changelog": [
        *meta.changelog[:-1], meta.changelog[-1].model_copy(update={"content": a})]})
    assert citation.stated_problems(one, released) == []
    assert "needs a new version" in citation.stated_problems(other, released)[0]
    assert citation.stated_problems(rendered(page + page), meta) == []  # said twice, alike
    mixed = rendered(page) + "<p>Version 1.0.0 (content 0123456789)</p>"
    assert "2 version/content pairs" in citation.stated_problems(mixed, meta)[0]
