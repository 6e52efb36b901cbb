"""Does attention go to sentiment words? The share of a review's attention mass on words of a
published sentiment lexicon, against those words' share of its tokens.

The lexicon is VADER's (Hutto & Gilbert 2014), read from the file that ships inside the pinned
`vadersentiment` package (vaderSentiment/vader_lexicon.txt: word, mean valence, SD, ratings).
Its entries reach the models through the project's tokenizer and vocabulary
(`data.text.tokenize`, the run's vocabulary): an entry counts when the tokenizer keeps it whole
as one token (`tokenize(entry) == [entry]`: "great", "worst"; emoticons such as ":)" and entries
it splits or alters, such as ":D" -> ["d"], are left out, so no non-sentiment word is counted in
their place) and when that token is in the vocabulary (PAD and UNK never are).

Per review, over its real tokens, for a token distribution w (additive's weights, mhsa's
attention received; `attention.review_stats` "dist"):

  attention_mass  sum of w over lexicon tokens
  token_share     lexicon tokens / real tokens: the mass uniform weights would put there

A run's summary: the means of both over the reviews, their ratio (`lift`: 1 = no preference
for lexicon words) and the mean per-review excess (attention_mass - token_share).

The most-attended words (`top_words`, `top_record`): per vocabulary word, its mean relative
attention over its occurrences in the split (weight x the review's real tokens; 1 = uniform),
the TOP_K highest among words seen at least MIN_COUNT times, each flagged as a lexicon word.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import numpy as np

from attnstudy.data.text import tokenize

PACKAGE, FILE = "vaderSentiment", "vader_lexicon.txt"
TOP_K = 20  # words recorded per run
MIN_COUNT = 50  # occurrences a word needs in the split to be ranked


def lexicon_path() -> Path:
    """The VADER lexicon file of the installed package."""
    return Path(str(resources.files(PACKAGE) / FILE))


@functools.cache
def read_lexicon(path: Path | None = None) -> dict[str, float]:
    """{entry: mean valence} of a VADER-format lexicon (tab-separated, entry first)."""
    path = path or lexicon_path()
    out = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            out[parts[0]] = float(parts[1])
        except (IndexError, ValueError):
            raise ValueError(f"{path}:{i + 1}: not 'entry<TAB>valence...': {line!r}") from None
    return out


def lexicon_words(entries) -> frozenset[str]:
    """The entries the project's tokenizer keeps whole as one token."""
    return frozenset(e for e in entries if tokenize(e) == [e])


def lexicon_mask(vocab: list[str], words=None) -> np.ndarray:
    """<bool>[len(vocab)]: True at the ids of lexicon words (default: VADER's)."""
    words = lexicon_words(read_lexicon()) if words is None else frozenset(words)
    return np.array([w in words for w in vocab], bool)


def per_review(dist, ids, mask, is_lexicon) -> tuple[np.ndarray, np.ndarray]:
    """(attention_mass, token_share), each <float64>[n].

    dist <float>[n, t] a token distribution per review (zero on padding), ids <int>[n, t'] with
    t' >= t (the split's ids), mask <bool>[n, t'] real tokens, is_lexicon <bool>[vocab].
    """
    dist = np.asarray(dist, np.float64)
    t = dist.shape[1]
    ids, mask = np.asarray(ids)[:, :t], np.asarray(mask, bool)[:, :t]
    if np.asarray(mask).shape != dist.shape:
        raise ValueError(f"dist {dist.shape} and ids/mask {mask.shape} disagree")
    lex = np.asarray(is_lexicon, bool)[ids] & mask
    n = np.maximum(mask.sum(1), 1)
    return (dist * lex).sum(1), lex.sum(1) / n


def summary(mass, token_share) -> dict:
    """{"attention_mass", "token_share", "lift", "excess", "n_reviews"} over the reviews;
    lift is None when no review holds a lexicon word."""
    mass, share = np.asarray(mass, np.float64), np.asarray(token_share, np.float64)
    m, s = float(mass.mean()), float(share.mean())
    return {"attention_mass": m, "token_share": s, "lift": m / s if s > 0 else None,
            "excess": float((mass - share).mean()), "n_reviews": int(len(mass))}


def top_words(dist, ids, mask, vocab: list[str], k: int = TOP_K,
              min_count: int = MIN_COUNT) -> list[dict]:
    """The k words with the highest mean relative attention over their occurrences.

    Relative attention of a token = its weight x the review's real tokens (1 = what uniform
    weights give it). Words seen fewer than `min_count` times (and UNK) are left out, so a rare
    word's one lucky review does not top the list. Same inputs as `per_review`. Returns
    [{"word", "relative_attention", "count", "lexicon"}], best first (ties: the more frequent).
    """
    dist = np.asarray(dist, np.float64)
    t = dist.shape[1]
    ids, mask = np.asarray(ids)[:, :t], np.asarray(mask, bool)[:, :t]
    rel = dist * mask.sum(1, keepdims=True)
    n = len(vocab)
    count = np.bincount(ids[mask], minlength=n)
    total = np.bincount(ids[mask], weights=rel[mask], minlength=n)
    keep = np.flatnonzero(count >= max(min_count, 1))
    keep = keep[keep > 1]  # PAD, UNK
    mean = total[keep] / count[keep]
    order = np.lexsort((-count[keep], -mean))[:k]
    is_lex = lexicon_mask(vocab)
    return [{"word": vocab[i], "relative_attention": float(mean[j]), "count": int(count[i]),
             "lexicon": bool(is_lex[i])} for j, i in ((j, keep[j]) for j in order)]


def top_record(dist, ids, mask, vocab: list[str], k: int = TOP_K,
               min_count: int = MIN_COUNT) -> dict:
    """A run's record of its most-attended words: {"k", "min_count", "words"} (`top_words`)."""
    return {"k": k, "min_count": min_count,
            "words": top_words(dist, ids, mask, vocab, k=k, min_count=min_count)}
