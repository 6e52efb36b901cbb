"""The shipped minimal-pair probes load and are well formed; malformed files fail with one line."""

from __future__ import annotations

import collections

import pytest

from attnstudy.data.probes import CATEGORIES, DEFAULT_PATH, Probe, load_probes
from attnstudy.data.text import tokenize
from attnstudy.errors import UserError

HEADER = "pair_id\tcategory\ttext\tlabel\n"


def pair_index(probes: list[Probe]) -> dict[str, tuple[int, int]]:
    """pair_id -> (row of the positive member, row of the negative member), in first-seen order."""
    out: dict[str, list[int | None]] = {}
    for i, p in enumerate(probes):
        slot = out.setdefault(p.pair_id, [None, None])
        slot[0 if p.label == 1 else 1] = i
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_shipped_file_loads_with_enough_pairs():
    probes = load_probes()
    pairs = collections.Counter(p.pair_id for p in probes)
    assert len(pairs) >= 100 and set(pairs.values()) == {2}
    per_cat = collections.Counter(p.category for p in probes if p.label == 1)
    assert set(per_cat) == set(CATEGORIES)
    assert min(per_cat.values()) >= 25
    texts = [p.text for p in probes]
    assert len(set(texts)) == len(texts), "duplicate probe sentences"
    assert all(tokenize(t) for t in texts)
    assert load_probes(DEFAULT_PATH) == probes


def test_pairs_have_opposite_labels_and_one_category():
    probes = load_probes()
    for pid, (pos, neg) in pair_index(probes).items():
        assert probes[pos].label == 1 and probes[neg].label == 0, pid
        assert probes[pos].category == probes[neg].category, pid


def test_negation_pairs_differ_by_a_negation_cue():
    from attnstudy.data.text import has_negation

    probes = load_probes()
    for pid, (pos, neg) in pair_index(probes).items():
        p, n = probes[pos], probes[neg]
        if p.category == "negation":  # positive statement / its negation
            assert has_negation(tokenize(n.text)) and not has_negation(tokenize(p.text)), pid
        if p.category == "double_negation":  # negated negative / plain negative
            assert has_negation(tokenize(p.text)), pid


def write(tmp_path, body: str, header: str = HEADER):
    path = tmp_path / "probes.tsv"
    path.write_text(header + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("body,header,message", [
    ("a\tnegation\tgood\t1\na\tnegation\tnot good\t0\n", "pair_id\tcategory\ttext\n",
     "missing column 'label'"),
    ("a\tnegation\tgood\t1\na\tnegation\tnot good\t2\n", HEADER, "label must be 0 or 1"),
    ("a\tnegation\tgood\tyes\na\tnegation\tnot good\t0\n", HEADER, "label must be 0 or 1"),
    ("a\tnegation\tgood\t1\na\tnegation\tnot good\t1\n", HEADER, "opposite labels"),
    ("a\tnegation\tgood\t1\n", HEADER, "exactly two"),
    ("a\tnegation\tgood\t1\na\tnegation\tnot good\t0\na\tnegation\tbad\t0\n", HEADER,
     "exactly two"),
    ("a\tsarcasm\tgood\t1\na\tsarcasm\tnot good\t0\n", HEADER, "unknown category"),
    ("a\tnegation\tgood\t1\na\tcontrast\tnot good\t0\n", HEADER, "mixes categories"),
    ("a\tnegation\tgood\t1\na\tnegation\tnot good\n", HEADER, "fields"),
    ("", HEADER, "no probes"),
])
def test_malformed_files_are_one_line_user_errors(tmp_path, body, header, message):
    with pytest.raises(UserError, match=message) as e:
        load_probes(write(tmp_path, body, header))
    assert "\n" not in str(e.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_probes(tmp_path / "nope.tsv")
    with pytest.raises(UserError, match="empty"):
        load_probes(write(tmp_path, "", header="# only a comment\n"))


def test_comments_and_order_are_kept(tmp_path):
    path = write(tmp_path, "# comment\nb\tintensifier\tso bad\t0\nb\tintensifier\tso good\t1\n")
    probes = load_probes(path)
    assert [p.text for p in probes] == ["so bad", "so good"]
    assert pair_index(probes) == {"b": (1, 0)}
