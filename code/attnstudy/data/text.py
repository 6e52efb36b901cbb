"""Text -> tokens: the one tokenizer every model, the baseline and the probes share."""

from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"<[^>]*>")
_NT = re.compile(r"n't\b")
_TOKEN = re.compile(r"n't|[^\W\d_]+(?:'[^\W\d_]+)?|\d+|[!?]")


def normalise(text: str) -> str:
    """Lowercase, NFKC-normalise, unescape entities and replace HTML tags (`<br />`) by spaces."""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    return _TAG.sub(" ", text).replace("\u2019", "'").lower()


def tokenize(text: str) -> list[str]:
    """Word tokens with negation kept as its own token: "didn't" -> ["did", "n't"]."""
    return _TOKEN.findall(_NT.sub(" n't", normalise(text)))



# Cues of the `negation` column (test_predictions.parquet): a review "contains a negation cue"
# when its full token list (before truncation and vocabulary mapping) holds one of these.
NEGATION_CUES = frozenset({
    "not", "n't", "no", "never", "nothing", "nobody", "none", "neither", "nor", "nowhere",
    "hardly", "barely", "scarcely", "without", "cannot", "cant", "dont", "didnt", "doesnt",
    "isnt", "wasnt", "arent", "werent", "wont", "wouldnt", "shouldnt", "couldnt", "aint",
})


def has_negation(tokens) -> bool:
    """True when any token (as produced by `tokenize`) is a negation cue."""
    return any(str(t) in NEGATION_CUES for t in tokens)
