"""The claims ledger in words: the sentences that state each claim's rule and result, from
paper/prose/ledger.txt.j2 and the values analysis.claims decided the verdict with.

`worded(analysed)` gives analysis.json's sections with every ledger row's "rule" and "result"
(plain text) added, worded from the facts as decided and then made JSON-safe (NaN -> None); a
result ends with the verdict the rule gives on the other accuracy basis (facts "other_basis"), if
any. A row decided by a [[v3_rules]] entry (analysis.claims: rule_set "v3_rules") is worded
by the v3 macros `<v3 kind>_rule(c, r, e)` / `<v3 kind>_result(c, r, f)`, from the seed-level
values its facts carry. The pipeline words the ledger before it writes analysis.json.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from attnstudy.analysis.claim_rules_v3 import load_rules
from attnstudy.analysis.claims import CLAIMS, load_claims
from attnstudy.analysis.sections import clean
from attnstudy.config import ROOT
from attnstudy.errors import UserError

TEMPLATE = ROOT / "paper" / "prose" / "ledger.txt.j2"


def decisive(x: float, cuts=(), scale: float = 1.0, digits: int = 2, sign: bool = False) -> str:
    """`scale * x` with `digits` decimals, or more until the printed number sits on the same
    side of every cut as x does: +0.0099 vs a 0.01 cut prints "+0.99" (points), never "+1.00"."""
    fmt, x = ("+" if sign else ""), x + 0.0  # -0.0 (a flipped 0) prints as 0
    for d in range(digits, digits + 6):
        s = f"{scale * x:{fmt}.{d}f}"
        if all((float(s) > scale * c) - (float(s) < scale * c)
               == (scale * x > scale * c) - (scale * x < scale * c) for c in cuts):
            break
    return s


def pval_text(p: float, alpha: float) -> str:
    """"p = 0.044" (2 significant digits, more when needed to show p vs alpha); "p < 1e-4"."""
    if p < 1e-4:
        return "p < 1e-4"
    for d in range(2, 8):
        s = f"{p:.{d}g}"
        if (float(s) < alpha) == (p < alpha):
            break
    if "." not in s and "e" not in s:  # p = 1 prints "1.0", as the tables print 1.000
        s += ".0"
    return f"p = {s}"


@functools.cache  # templates compile once per process (a changed file reloads: mtime)
def _environment(folder: Path) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)),
                             undefined=jinja2.StrictUndefined, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters.update(
        pts=lambda x, *cuts: decisive(x, (0, *cuts), 100, 2, sign=True),  # fraction -> points
        pct=lambda x, *cuts: decisive(x, cuts, 100, 1) + "%",  # fraction -> percent
        num=lambda x, *cuts, digits=2: decisive(x, cuts, 1, digits),
        g100=lambda x: f"{100 * x:g}",  # a threshold in points or percent: 0.02 -> "2"
        points=lambda x: f"{100 * x:g} point" + ("" if 100 * x == 1 else "s"),
        pval=pval_text)
    return env


def _words(template: Path):
    """The template's macros: `<kind>_rule(c)`, `<kind>_result(c, f)`, `missing(c, needs)`."""
    try:
        return _environment(template.parent).get_template(template.name).module
    except jinja2.TemplateError as e:
        raise UserError(f"{template}: {e}") from None


def _say(macro, *args, where: str) -> str:
    try:
        return " ".join(str(macro(*args)).split())
    except jinja2.UndefinedError as e:  # a template naming a fact or threshold that is not there
        raise UserError(f"{where}: {e.message}") from None


def worded(analysed: dict, claims: Path | str = CLAIMS, template: Path | str = TEMPLATE) -> dict:
    """`analysed` (analysis.analyse's sections) with each ledger row's rule and result sentences,
    in analysis.json's key order (..., thresholds, rule, result, verdict, facts)."""
    words = _words(Path(template))
    declared = {c["id"]: c for c in load_claims(claims)}
    v3 = (load_rules(claims, set(declared))
          if any(r.get("rule_set") == "v3_rules" for r in analysed["ledger"]) else {})
    rows = []
    for row in analysed["ledger"]:
        c, facts, verdict = declared[row["id"]], row["facts"], row["verdict"]
        where = f"{template}: claim {row['id']!r}"
        if row.get("rule_set") == "v3_rules":  # decided by its [[v3_rules]] entry
            r = v3[row["id"]]
            rule = _say(getattr(words, f"{r['kind']}_rule"), c, r, facts["equivalence"],
                        where=where)
            result = (_say(words.missing, c, facts["missing"], where=where)
                      if "missing" in facts else
                      _say(getattr(words, f"{r['kind']}_result"), c, r, facts, where=where))
            before = {k: v for k, v in row.items() if k not in ("verdict", "facts")}
            rows.append(clean({**before, "rule": rule, "result": result, "verdict": verdict,
                               "facts": facts}))
            continue
        if set(facts) == {"missing"} and verdict == "inconclusive":
            result = _say(words.missing, c, facts["missing"], where=where)
        else:
            result = _say(getattr(words, f"{c['kind']}_result"), c, facts, where=where)
            if facts.get("other_basis"):  # the verdict's sensitivity to the accuracy basis
                result += " " + _say(words.other_basis, facts["other_basis"], verdict,
                                     where=where)
        rule = _say(getattr(words, f"{c['kind']}_rule"), c, where=where)
        before = {k: v for k, v in row.items() if k not in ("verdict", "facts")}
        rows.append(clean({**before, "rule": rule, "result": result, "verdict": verdict,
                           "facts": facts}))  # JSON-safe once worded: NaN -> None
    return {**analysed, "ledger": rows}
