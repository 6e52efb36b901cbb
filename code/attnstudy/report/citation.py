"""How to cite the report: paper/citation.toml (title, authors, version, URL, changelog) plus the
date and commit of the results it is rendered from.

    meta = load()              -> Meta, checked (a bad file is a one-line UserError)
    facts(meta, results_json)  -> {"title", "authors", "date", "commit", "plain", "bibtex", ...}
                                  for the report's "Cite this report" section and its <head>
    cff(meta)                  -> the text of CITATION.cff at the repository root
    content_id(html)           -> the content id of HTML rendered with the CONTENT placeholder
    stated_problems(html, meta) -> what is wrong with the version and content id a rendered
                                  report states (empty: it states the current version, its own
                                  content id, and a released version's recorded content)

Regenerate CITATION.cff after editing the toml: python -m attnstudy.report.citation > CITATION.cff
(tests/test_report.py checks the committed file against cff(load())).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from attnstudy.config import ROOT
from attnstudy.errors import UserError

CITATION = ROOT / "paper" / "citation.toml"
# Stands for the report's content id until the HTML is complete: render.stamp_content replaces it
# with a digest of the HTML, so two renders with different content never share an identifier.
CONTENT = "@@content-id@@"
BIBTEX_SPECIAL = str.maketrans({c: "\\" + c for c in "&%$#_"})


class Author(BaseModel):
    """A group (`name`) or a person (`given-names`, `family-names`), as CITATION.cff has them."""
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str | None = None
    given_names: str | None = Field(None, alias="given-names")
    family_names: str | None = Field(None, alias="family-names")

    @model_validator(mode="after")
    def one_kind(self) -> Author:
        if bool(self.name) == bool(self.given_names and self.family_names):
            raise ValueError("give either name, or given-names and family-names")
        return self

    @property
    def display(self) -> str:
        return self.name or f"{self.given_names} {self.family_names}"

    @property
    def bibtex(self) -> str:
        # a group in braces, so BibTeX does not split it into first and last names
        return f"{{{self.name}}}" if self.name else f"{self.family_names}, {self.given_names}"


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    date: dt.date | None = None  # None: not released yet
    commit: str | None = None
    # the content id of the report released as this version: once recorded, a report with other
    # content must state another version (stated_problems), so new content gets a new version
    content: str | None = Field(None, pattern=r"^[0-9a-f]{10}$")
    changes: str


class Meta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    version: str
    description: str
    keywords: list[str]
    url: str = ""  # empty: no public URL yet
    pdf_url: str = "report.pdf"
    authors: list[Author] = Field(min_length=1)
    changelog: list[Release] = Field(min_length=1)

    @model_validator(mode="after")
    def current_version_last(self) -> Meta:
        if self.changelog[-1].version != self.version:
            raise ValueError(f"the last changelog entry must be version {self.version!r}")
        return self


def load(path: Path = CITATION) -> Meta:
    try:
        return Meta.model_validate(tomllib.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"])) or "file"
        raise UserError(f"{path}: {where}: {err['msg']}") from None


def content_id(html: str) -> str:
    """The first 10 hex digits of the SHA-256 of `html`, the report as rendered with the CONTENT
    placeholder: any change to the content gives another id."""
    return hashlib.sha256(html.encode()).hexdigest()[:10]


STATED = re.compile(r"Version (\d+\.\d+\.\d+\S*) \(content ([0-9a-f]{10})\)")


def stated_problems(html: str, meta: Meta) -> list[str]:
    """What is wrong with the version and content id the rendered report `html` states in its
    citation ("Version 2.1.0 (content 0123456789)"): not exactly one such pair, a version other
    than the toml's, an id that is not the digest of the report itself, or, for a version whose
    changelog entry records the content it was released with, other content (new content needs
    a new version). Empty when the report is consistent."""
    pairs = set(STATED.findall(html))
    if len(pairs) != 1:
        return [f"the report states {len(pairs)} version/content pairs, not 1: {sorted(pairs)}"]
    ((version, content),) = pairs
    problems = []
    if version != meta.version:
        problems.append(f"the report states version {version}, paper/citation.toml {meta.version}")
    if content_id(html.replace(content, CONTENT)) != content:
        problems.append(f"content id {content} is not the digest of the report's content")
    released = next((r.content for r in meta.changelog if r.version == version), None)
    if released and released != content:
        problems.append(f"version {version} was released with content {released}, the report "
                        f"has {content}: new content needs a new version")
    return problems


def made(res: dict) -> dict:
    """Date, commit and dirty flag of the results: the date the last training run finished, the
    commit most runs were trained at (ties: the one trained first), the code they were computed
    by, not a later commit that touched other files; results written before runs recorded
    provenance fall back to results.json's. `created`: that finish time (ISO 8601), the PDF's
    creation date, so the same results give the same PDF."""
    runs = [r["provenance"] for r in res["runs"] if r.get("provenance")]
    if runs:
        last = max(runs, key=lambda p: dt.datetime.fromisoformat(p["finished"]))
        by: dict[tuple, list] = {}
        for p in sorted(runs, key=lambda p: p["started"]):
            key = (p.get("git_commit") or "unknown", bool(p.get("git_dirty")))
            by.setdefault(key, []).append(p)
        (commit, dirty), _ = max(by.items(), key=lambda kv: len(kv[1]))  # first max: earliest
        source = "most training runs recorded"
        n, total = len(by[(commit, dirty)]), len(runs)
    else:
        last = res["provenance"]
        commit, dirty = last.get("git_commit") or "unknown", bool(last.get("git_dirty"))
        source, n, total = "results.json records (the runs recorded none)", 0, 0
    return {"date": last["finished"][:10], "created": last["finished"], "commit": commit,
            "dirty": dirty, "source": source, "commit_runs": n, "runs_recorded": total}


def _names(meta: Meta) -> str:
    names = [a.display for a in meta.authors]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def bibtex(meta: Meta, when: dict) -> str:
    """A @misc entry (BibLaTeX reads `date` and `version`; BibTeX reads year, url and note)."""
    year = when["date"][:4]
    key = f"attnstudy{year}v{meta.version.split('.')[0]}"  # e.g. attnstudy2026v2
    note = (f"Version {meta.version} (content {CONTENT}), runs trained at commit {when['commit']}"
            + (" with uncommitted changes" if when["dirty"] else ""))
    fields = [("author", " and ".join(a.bibtex for a in meta.authors)),
              ("title", meta.title.translate(BIBTEX_SPECIAL)), ("year", year),
              ("date", when["date"]), ("version", meta.version)]
    fields += [("url", meta.url)] if meta.url else []
    fields += [("note", note.translate(BIBTEX_SPECIAL))]
    return "@misc{" + key + ",\n" + ",\n".join(f"  {k} = {{{v}}}" for k, v in fields) + "\n}"


def plain(meta: Meta, when: dict) -> str:
    """Authors (date). Title. Version, commit[, URL]."""
    dirty = " with uncommitted changes" if when["dirty"] else ""
    url = f" {meta.url}" if meta.url else ""
    stop = "" if meta.title.endswith((".", "?", "!")) else "."
    return (f"{_names(meta)} ({when['date']}). {meta.title}{stop} Version {meta.version} "
            f"(content {CONTENT}), "
            f"runs trained at commit {when['commit'][:12]}{dirty}.{url}")


def facts(meta: Meta, res: dict) -> dict:
    """What the report says about citing it, from the toml and the results' provenance."""
    when = made(res)
    return {"title": meta.title, "authors": [a.display for a in meta.authors],
            "names": _names(meta), "version": meta.version, "content": CONTENT,
            "description": meta.description,
            "keywords": meta.keywords, "url": meta.url, "pdf_url": meta.pdf_url,
            **when, "highwire_date": when["date"].replace("-", "/"),
            "plain": plain(meta, when), "bibtex": bibtex(meta, when),
            "changelog": [r.model_dump() for r in meta.changelog]}


def cff(meta: Meta) -> str:
    """CITATION.cff (format 1.2.0) from the toml; strings JSON-quoted, which YAML reads as is."""
    q = json.dumps

    def authors(indent: str) -> list[str]:
        out = []
        for a in meta.authors:
            first = (f"name: {q(a.name)}" if a.name else f"family-names: {q(a.family_names)}")
            out.append(f"{indent}- {first}")
            if not a.name:
                out.append(f"{indent}  given-names: {q(a.given_names)}")
        return out

    current = meta.changelog[-1]
    lines = ["# Generated from paper/citation.toml by attnstudy.report.citation; do not edit.",
             "# Regenerate: python -m attnstudy.report.citation > CITATION.cff",
             "cff-version: 1.2.0",
             'message: "If you use this study, please cite it as below."',
             "type: software", f"title: {q(meta.title)}", f"version: {q(meta.version)}"]
    if current.date:
        lines.append(f"date-released: {current.date.isoformat()}")
    if current.commit:
        lines.append(f"commit: {q(current.commit)}")
    if meta.url:
        lines += [f"url: {q(meta.url)}", f"repository-code: {q(meta.url)}"]
    lines += [f"abstract: {q(meta.description)}", "authors:", *authors("  "), "keywords:",
              *(f"  - {q(k)}" for k in meta.keywords),
              "preferred-citation:", "  type: report", f"  title: {q(meta.title)}",
              "  authors:", *authors("    ")]
    if meta.url:
        lines.append(f"  url: {q(meta.url)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(cff(load()))
