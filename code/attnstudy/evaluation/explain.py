"""`predict --explain`: which tokens a model attended to, and which moved its decision.

Per token, as the report measures them (attnstudy.evaluation.faithfulness, reused here):
  weights     attention: additive -> its softmax weight; mhsa -> attention *received* (mean over
              heads and real queries); transformer -> the same in its last layer; None for
              models without attention
  importance  gradient importance: L2 norm of d logit / d embedding of the token
Tokens are the review's words as the model read them (tokenised, truncated like the encoding);
`in_vocab` is False where the model saw `<unk>`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from attnstudy.data.encode import UNK, truncate
from attnstudy.data.text import tokenize
from attnstudy.evaluation.faithfulness import _Runner
from attnstudy.models.inference import attention_weights

BATCH = 16  # reviews per jitted call (a fixed shape: compiled once per model and process)
KIND = {"additive": "attention weight", "mhsa": "attention received (mean over heads, queries)",
        "transformer": "attention received, last layer (mean over heads, queries)"}


def has_attention(model, params, width: int) -> bool:
    ids = jnp.ones((1, width), jnp.int32)
    shapes = jax.eval_shape(lambda p: attention_weights(model, p, ids, ids > 0), params)
    return shapes[1] is not None


@functools.lru_cache(maxsize=4)
def _runner(predictor) -> tuple[_Runner, bool]:
    width = predictor.cfg.data.max_len
    return (_Runner(predictor.model, predictor.params, BATCH, width),
            has_attention(predictor.model, predictor.params, width))


def explain(predictor, texts: list[str]) -> list[dict]:
    """Per text: {"tokens": [str], "in_vocab": [bool], "weights": [float] | None,
    "importance": [float]}, lists aligned with the tokens the model read."""
    split = predictor.encode(texts)
    ids, lengths = split.ids, split.lengths.astype(np.int64)
    runner, attends = _runner(predictor)
    importance = runner.importance(ids, lengths)  # <float32>[n, t], zero on padding
    weights = runner.forward(ids, lengths)[1] if attends else None
    d = predictor.cfg.data
    out = []
    for i, text in enumerate(texts):
        n = int(lengths[i])
        tokens = truncate(tokenize(text), d.max_len, d.truncation) or ["<unk>"]
        assert len(tokens) == n, (len(tokens), n)  # the encoding's own truncation
        out.append({"tokens": tokens, "in_vocab": (ids[i, :n] != UNK).tolist(),
                    "weights": None if weights is None else _round(weights[i, :n]),
                    "importance": _round(importance[i, :n])})
    return out


def _round(x: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in x]


def show(text: str, prob: float, decision: str, d: dict, name: str, top: int = 5) -> None:
    """One review in the terminal: the decision, then each score as token shading (darker =
    larger, scaled to the review's largest) and its top tokens (readable without colour)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    head = Text(f"{prob:.4f} {decision}", style="bold green" if decision == "positive"
                else "bold red")
    head.append(f"  {' '.join(text.split())[:70]}", style="default")
    console.print(head)
    rows = [("attention", d["weights"], (230, 120, 20), KIND.get(name, "attention")),
            ("gradient", d["importance"], (40, 110, 220), "|d logit / d embedding|")]
    for label, values, rgb, what in rows:
        if values is None:
            console.print(Text(f"  {label:>9}  none: {name} has no attention", style="dim"))
            continue
        peak = max(values) or 1.0
        line = Text(f"  {label:>9}  ")
        for tok, v, known in zip(d["tokens"], values, d["in_vocab"], strict=True):
            a = v / peak
            bg = "#" + "".join(f"{round(255 - a * (255 - c)):02x}" for c in rgb)
            line.append(tok, style=f"{'italic ' if not known else ''}black on {bg}")
            line.append(" ")
        console.print(line)
        best = sorted(range(len(values)), key=lambda j: -values[j])[:top]
        console.print(Text(f"  {'':>9}  {what}; top: " + ", ".join(
            f"{d['tokens'][j]} {values[j]:.4f}" for j in best), style="dim"))
