"""The schema of the attention ablations and statistics: runs[].ablations, runs[].attention_stats,
runs[].curve[].attention (results.json) and the `attention` section of analysis.json."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from attnstudy.schema.base import Loose, Record, Stat, keyed

# ----------------------------------------------------------------------------- results.json


class CurveAttention(Record):
    """Normalised attention entropy (H / log n, n = real tokens; 1 = uniform) over the validation
    reviews, from the validation pass itself (attnstudy.training.loop.curve_attention)."""
    entropy_median: float = Field(description="median over reviews of the token distribution's "
                                  "entropy (additive: its weights; mhsa: attention received, "
                                  "mean over heads)")
    entropy_q25: float = Field(description="... its 25% quantile")
    entropy_q75: float = Field(description="... its 75% quantile")
    heads_entropy_median: list[float] | None = Field(
        description="mhsa: per head, the median entropy of the attention it receives; else null")
    row_entropy_median: float | None = Field(
        description="mhsa: median over reviews of the mean entropy of the query rows (over real "
        "queries and heads); else null")


class Ablation(Record):
    """The run's parameters with the attention weights replaced, on the whole test split
    (attnstudy.evaluation.ablations); differences are ablated - unablated, fractions."""
    accuracy: float = Field(description="test accuracy of the ablated model")
    acc_diff: float = Field(description="accuracy change vs the unablated model")
    ci_low: float = Field(description="paired bootstrap CI of acc_diff over reviews: low end")
    ci_high: float = Field(description="... high end")
    p: float = Field(description="two-sided bootstrap p of acc_diff")
    ci_level: float = Field(description="confidence level of the CI (0.95)")
    mean_abs_prob_change: float = Field(description="mean |P(positive) change| over reviews")
    flipped: float = Field(description="share of reviews whose decision changes")


class Dist(Record):
    """A per-review statistic summarised over the test reviews where it is defined."""
    mean: float | None = Field(description="mean (null when n = 0)")
    q05: float | None = Field(description="5% quantile")
    q25: float | None = Field(description="25% quantile")
    q50: float | None = Field(description="median")
    q75: float | None = Field(description="75% quantile")
    q95: float | None = Field(description="95% quantile")
    n: int = Field(description="reviews where the statistic is defined")


class AttentionBlock(Record):
    """Statistics of one token distribution per review (attnstudy.evaluation.attention_stats)."""
    entropy: Dist = Field(description="normalised entropy H / log n (n = real tokens; 1 = "
                          "uniform, 0 = one token; 1 when n = 1)")
    max_weight: Dist = Field(description="largest weight (= the mass on the top-1 token)")
    top5_mass: Dist = Field(description="mass on the 5 highest-weighted tokens")
    position_spearman: Dist = Field(description="Spearman correlation of weight with token "
                                    "position (reviews with n < 2 or constant weights left out)")
    row_entropy: Dist | None = Field(description="mhsa: mean over real queries of each query "
                                     "row's normalised entropy; additive: null")
    row_max_weight: Dist | None = Field(description="mhsa: mean over real queries of each query "
                                        "row's largest weight; additive: null")


class UniformReference(Record):
    """The same statistics for uniform weights over the same reviews."""
    entropy: Dist = Field(description="1 for every review")
    max_weight: Dist = Field(description="1/n")
    top5_mass: Dist = Field(description="min(5, n)/n")


class AttentionStats(AttentionBlock):
    """The learned attention over the whole test split: additive's weights, or for mhsa the
    attention received per token (mean over real queries), averaged over heads (these fields)
    and per head (`heads`)."""
    n_reviews: int = Field(description="test reviews")
    source: Literal["weights", "received"] = Field(description="the token distribution: "
                                                   "additive's weights or mhsa's received")
    uniform: UniformReference
    heads: list[AttentionBlock] | None = Field(description="mhsa: the same per head; additive: "
                                               "null")


# ----------------------------------------------------------------------------- analysis.json


class AblationSummary(Loose):
    """runs[].ablations over the seeds of a model (Stat: mean and Student-t 95% CI over seeds)."""
    accuracy: Stat = Field(description="test accuracy of the ablated model")
    acc_diff: Stat = Field(description="accuracy change vs the unablated model")
    mean_abs_prob_change: Stat = Field(description="mean |P(positive) change|")
    flipped: Stat = Field(description="share of decisions flipped")
    seeds_below: int = Field(description="seeds whose paired bootstrap CI lies below 0")
    seeds_above: int = Field(description="seeds whose CI lies above 0")
    n_seeds: int = Field(description="seeds with the ablation")


class StatSummary(Loose):
    """One attention statistic over the seeds (null: not defined in any run)."""
    median: Stat | None = Field(description="over seeds, of the per-run median over reviews")
    mean: Stat | None = Field(description="over seeds, of the per-run mean over reviews")
    q05: Stat | None = Field(description="over seeds, of the per-run 5% quantile over reviews")
    q25: Stat | None = Field(description="... of the 25% quantile")
    q75: Stat | None = Field(description="... of the 75% quantile")
    q95: Stat | None = Field(description="... of the 95% quantile")


class AttentionStatsSummary(Loose):
    """runs[].attention_stats over the seeds of a model."""
    source: str = Field(description="\"weights\" (additive) or \"received\" (mhsa)")
    n_seeds: int = Field(description="runs with statistics")
    statistics: dict[str, StatSummary | None] = keyed(
        "entropy, max_weight, top5_mass, position_spearman, row_entropy and row_max_weight "
        "(the last two null for additive)", "<statistic>")
    uniform: dict[str, StatSummary] = keyed("the uniform reference of entropy, max_weight and "
                                            "top5_mass", "<statistic>")
    heads: list[dict[str, StatSummary | None]] | None = keyed(
        "mhsa: the statistics per head; additive: null", "<statistic>")


class LearningPoint(Loose):
    step: int = Field(description="training step")
    entropy_median: Stat = Field(description="over seeds, of curve[].attention.entropy_median")
    heads_entropy_median: list[Stat] | None = Field(
        description="mhsa: per head, over seeds; else null")


class AttentionSection(Loose):
    """Does the attention do anything? (attnstudy.analysis.attention_effects)"""
    ablations: dict[str, dict[str, AblationSummary]] = keyed(
        "per attention model and ablation", "<model>", "<ablation>")
    statistics: dict[str, AttentionStatsSummary] = keyed("per attention model", "<model>")
    learning: dict[str, list[LearningPoint]] = keyed(
        "per attention model, the validation points where every seed recorded attention",
        "<model>")


class Conicity(Record):
    """How alike a review's vectors are: mean cosine to their mean (attnstudy.evaluation.
    conicity), summarised over the test reviews."""
    states: Dist = Field(description="of what the model pools or attends over (BiLSTM states; "
                         "the embeddings for embed_*; the last block for the transformer)")
    embeddings: Dist = Field(description="of the token embeddings")


class LexiconShare(Record):
    """Attention mass on VADER lexicon words against their share of the tokens
    (attnstudy.evaluation.lexicon), means over the test reviews."""
    attention_mass: float = Field(description="attention on lexicon tokens")
    token_share: float = Field(description="lexicon tokens / real tokens (uniform weights' mass)")
    lift: float | None = Field(description="attention_mass / token_share (1: no preference; "
                               "null when no review holds a lexicon word)")
    excess: float = Field(description="mean per-review attention_mass - token_share")
    n_reviews: int = Field(description="test reviews measured")


class TopWord(Record):
    word: str = Field(description="the vocabulary word")
    relative_attention: float = Field(description="mean over its test occurrences of weight x "
                                      "the review's real tokens (1: what uniform weights give)")
    count: int = Field(description="its occurrences in the test reviews (as truncated)")
    lexicon: bool = Field(description="a VADER lexicon word (as `LexiconShare` counts them)")


class TopWords(Record):
    """The most-attended words of the same token distribution as `LexiconShare`
    (attnstudy.evaluation.lexicon.top_words), over the test reviews."""
    k: int = Field(description="words kept (the list may be shorter when few words qualify)")
    min_count: int = Field(description="occurrences a word needs to be ranked (UNK never is)")
    words: list[TopWord] = Field(description="highest mean relative attention first (ties: "
                                 "the more frequent)")
