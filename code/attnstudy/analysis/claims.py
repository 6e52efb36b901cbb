"""The claims ledger: each claim of paper/claims.toml, decided by its kind's rule with the
thresholds declared there, and worded by paper/prose/ledger.txt.j2 from the same values.

A ledger row is {"id", "claim", "source", "test", "kind", "metric", "basis", "thresholds",
"rule", "result", "verdict", "facts"}: "rule" and "result" are the template's plain-text
sentences, "facts" the numbers behind the result (see attnstudy.analysis.claim_rules). A result
ends with the verdict the rule gives on the other accuracy basis (facts "other_basis"), if any.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import jinja2

from attnstudy.analysis.claim_rules import KINDS, Evidence, NotMeasured
from attnstudy.config import ROOT
from attnstudy.errors import UserError

CLAIMS = ROOT / "paper" / "claims.toml"
TEMPLATE = ROOT / "paper" / "prose" / "ledger.txt.j2"
COMMON = {"id": str, "claim": str, "source": str, "test": str, "kind": str, "metric": str,
          "basis": (str, dict), "thresholds": dict, "fixed": str}
SOURCES = ("seed", "ours")


# ----------------------------------------------------------------------------- claims.toml

def load_claims(path: Path | str = CLAIMS) -> list[dict]:
    """The claims of `path`, checked: common keys, a known kind, its keys, thresholds and basis.
    Anything malformed is a one-line UserError naming the file and the claim."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the claims ledger is declared there") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML ({e})") from None
    claims = raw.get("claims")
    if not isinstance(claims, list) or not claims:
        raise UserError(f"{path}: needs a [[claims]] table per claim")
    seen = set()
    for i, c in enumerate(claims):
        _check(c, f"{path}: claim {c.get('id', f'#{i + 1}')!r}")
        if c["id"] in seen:
            raise UserError(f"{path}: claim {c['id']!r} is declared twice")
        seen.add(c["id"])
    return claims


def _check(c: dict, where: str) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise UserError(f"{where}: {msg}")

    for key, typ in COMMON.items():
        need(key in c, f"missing key {key!r}")
        need(isinstance(c[key], typ), f"{key!r} has the wrong type")
    need(c["kind"] in KINDS, f"unknown kind {c['kind']!r} (known: {', '.join(KINDS)})")
    need(c["source"] in SOURCES, f"source must be one of {', '.join(SOURCES)}")
    kind = KINDS[c["kind"]]
    for key, typ in kind.params.items():
        need(key in c, f"missing key {key!r} (kind {c['kind']})")
        need(isinstance(c[key], typ), f"{key!r} has the wrong type")
    t = c["thresholds"]
    for key in kind.thresholds:
        need(key in t, f"missing key 'thresholds.{key}' (kind {c['kind']})")
        need(isinstance(t[key], int | float) and not isinstance(t[key], bool),
             f"'thresholds.{key}' must be a number")
    extra = sorted(set(c) - set(COMMON) - set(kind.params)) + sorted(
        f"thresholds.{k}" for k in set(t) - set(kind.thresholds))
    need(not extra, f"unknown key {(extra or [''])[0]!r} (kind {c['kind']})")
    need(c["basis"] == kind.basis, f"basis {c['basis']!r} is not what kind {c['kind']} "
         f"computes ({kind.basis!r})")
    if c["kind"] == "pairwise":
        need(all(isinstance(p, list) and len(p) == 2 for p in c["pairs"]),
             "'pairs' must be a list of [a, b] model pairs")
    if c["kind"] == "attention_ablation":
        need(len(c["control"]) == 2, "'control' must be one [a, b] model pair")


# ----------------------------------------------------------------------------- wording

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
    return f"p = {s}"


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


# ----------------------------------------------------------------------------- the ledger

def ledger(ev: Evidence, path: Path | str = CLAIMS, template: Path | str = TEMPLATE) -> list[dict]:
    """One row per claim of `path`, in its order (see the module docstring)."""
    words = _words(Path(template))
    rows = []
    for c in load_claims(path):
        kind, t, where = KINDS[c["kind"]], c["thresholds"], f"{template}: claim {c['id']!r}"
        try:
            verdict, facts = kind.rule(c, t, ev)
            result = _say(getattr(words, f"{c['kind']}_result"), c, facts, where=where)
            if facts.get("other_basis"):  # the verdict's sensitivity to the accuracy basis
                result += " " + _say(words.other_basis, facts["other_basis"], verdict,
                                     where=where)
        except NotMeasured as e:
            verdict, facts = "inconclusive", {"missing": list(e.args[0])}
            result = _say(words.missing, c, facts["missing"], where=where)
        rows.append({"id": c["id"], "claim": c["claim"], "source": c["source"], "test": c["test"],
                     "kind": c["kind"], "metric": c["metric"], "basis": c["basis"],
                     "thresholds": t, "rule": _say(getattr(words, f"{c['kind']}_rule"), c,
                                                   where=where),
                     "result": result, "verdict": verdict, "facts": facts})
    return rows
