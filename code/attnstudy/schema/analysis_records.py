"""The records of analysis.json (attnstudy.analysis): statistics computed from the other
results files and the probe file. Loose records (`Loose`): documented fields required, extra
fields allowed, because its sections grow with the analysis."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from attnstudy.schema.attention_records import AttentionSection
from attnstudy.schema.base import Hex16, Loose, Stat, keyed
from attnstudy.schema.seed_level_records import SeedLevelSection


class Pairwise(Loose):
    a: str = Field(description="a model")
    b: str = Field(description="another model")
    acc_a: float = Field(description="accuracy of a's seed-averaged predictor")
    acc_b: float = Field(description="the same for b")
    acc_diff: float = Field(description="acc_a - acc_b (fraction)")
    ci_low: float = Field(description="paired bootstrap 95% CI of acc_diff over reviews: low")
    ci_high: float = Field(description="... high end")
    mcnemar_b: int = Field(description="reviews only a gets right")
    mcnemar_c: int = Field(description="reviews only b gets right")
    mcnemar_p: float = Field(description="exact McNemar p")
    mcnemar_p_holm: float = Field(description="Holm-adjusted over all pairs")
    significant: bool = Field(description="CI excludes 0 and mcnemar_p_holm < 0.05")


class Bucket(Loose):
    lo: int = Field(description="tokens, inclusive")
    hi: int = Field(description="tokens, exclusive")
    n: int = Field(description="test reviews in the bucket")
    truncated_share: float = Field(description="share longer than data.max_len")
    accuracy: dict[str, float] = keyed("mean over seeds", "<model>")


class LengthSection(Loose):
    edges: list[int] = Field(description="bucket edges (token-count quantiles)")
    buckets: list[Bucket] = Field(description="non-empty buckets, shortest first")


class NegationReal(Loose):
    with_: float | None = Field(alias="with", description="accuracy on reviews with a cue")
    without: float | None = Field(description="accuracy on reviews without one")
    n_with: int = Field(description="test reviews with a cue")
    n_without: int = Field(description="test reviews without one")


class CategoryScore(Loose):
    accuracy: float = Field(description="over the category's sentences and seeds")
    pair_consistency: float = Field(description="share of pairs with both sentences right "
                                    "(attnstudy.analysis.sections.pairs_right), over seeds")
    n_pairs: int = Field(description="sentence pairs in the category")


class ProbeVersus(Loose):
    diff: float = Field(description="probe accuracy of this model minus the other's, both seed-"
                        "averaged predictors")
    only_this: int = Field(description="probes only this model gets right")
    only_other: int = Field(description="probes only the other model gets right")
    p: float = Field(description="exact McNemar p (attnstudy.stats.paired)")
    p_holm: float = Field(description="p Holm-adjusted over all pairs of models")
    verdict: str = Field(description="\"better\", \"worse\" or \"inconclusive\" (alpha 0.05)")


class ProbeScore(Loose):
    accuracy: float = Field(description="over probe sentences and seeds")
    pair_consistency: float = Field(description="share of pairs with both sentences right")
    by_category: dict[str, CategoryScore] = keyed("per probe category", "<category>")
    ens_accuracy: float | None = Field(None, description="the seed-averaged predictor's accuracy")
    versus: dict[str, ProbeVersus] | None = keyed(
        "this model against each other model (attnstudy.analysis.sections.negation_probes)",
        "<model>", default=None)


class CueAccuracy(Loose):
    with_: float | None = Field(alias="with", description="accuracy on the bucket's reviews with "
                                "a cue (mean over seeds; null: none)")
    without: float | None = Field(description="... without one")


class NegationBucket(Loose):
    lo: int = Field(description="tokens, inclusive (the `length` section's buckets)")
    hi: int = Field(description="tokens, exclusive")
    n_with: int = Field(description="test reviews in the bucket with a cue")
    n_without: int = Field(description="... without one")
    weight: float = Field(description="the bucket's share of the Mantel-Haenszel weights "
                          "n_with * n_without / n (sum to 1; 0 when a group is empty)")
    accuracy: dict[str, CueAccuracy] = keyed("per model", "<model>")


class NegationDiff(Loose):
    diff: float | None = Field(description="accuracy with - without a cue, bucket-weighted "
                               "(fraction; null when no bucket has both groups)")
    ci_low: float | None = Field(description="percentile bootstrap CI (reviews resampled within "
                                 "each bucket x cue cell): low end")
    ci_high: float | None = Field(description="... high end")
    p: float | None = Field(description="two-sided bootstrap p of diff")
    raw_diff: float | None = Field(description="the unadjusted with - without gap, for comparison")


class NegationByLength(Loose):
    """Negation controlled for length (attnstudy.analysis.sections.negation_by_length): reviews
    with a cue are longer, and longer reviews are harder for every model."""
    ci_level: float = Field(description="confidence level of the CIs (0.95)")
    length_median: dict[str, float | None] = keyed(
        "median tokens of the test reviews with (\"with\") and without (\"without\") a cue",
        "<group>")
    buckets: list[NegationBucket] = Field(description="the non-empty length buckets")
    models: dict[str, NegationDiff] = keyed("per model", "<model>")


class NegationSection(Loose):
    real: dict[str, NegationReal] = keyed("test reviews with/without a negation cue", "<model>")
    by_length: NegationByLength
    probes: dict[str, ProbeScore] = keyed("the probe sentences (paper/probes.tsv)", "<model>")


class FaithfulnessSummary(Loose):
    k: list[int] = Field(description="numbers of tokens erased")
    n_seeds: int = Field(description="runs with a faithfulness record")
    top_drop: list[float] = Field(description="mean over seeds of runs[].faithfulness.top_drop")
    random_drop: list[float] = Field(description="the same for random_drop")
    top_flip: list[float] = Field(description="the same for top_flip")
    random_flip: list[float] = Field(description="the same for random_flip")
    grad_spearman: float | None = Field(description="mean over seeds")
    seeds_top_above_random: list[int] | None = Field(
        None, description="per k, seeds whose drop_diff CI lies above 0")


class LedgerRow(Loose):
    """A claim and its verdict by a rule fixed in advance (attnstudy.analysis.claims)."""
    claim: str = Field(description="the claim in words")
    source: str = Field(description="\"seed\" (the claims we test) or \"ours\"")
    test: str = Field(description="what is measured")
    rule: str = Field(description="the decision rule")
    result: str = Field(description="the measurement in words")
    verdict: str = Field(description="\"supported\", \"not supported\" or \"inconclusive\"; "
                         "the v3 rules (paper/claims.toml [[v3_rules]]) also \"partly supported\"")


class AnalysisFile(Loose):
    """Statistics computed from the files above and the probe file (attnstudy.analysis)."""
    schema_version: int = Field(description="version of this schema")
    config_hash: Hex16 = Field(description="equals results.json's")
    analysis_key: str = Field(description="hash of its inputs; recomputed when it changes")
    summary: dict[str, dict[str, Stat]] = keyed(
        "mean and CI over seeds of each test metric and of train_seconds, tokens_per_second, "
        "eval_reviews_per_second", "<model>", "<metric>")
    pairwise: list[Pairwise] = Field(description="every pair of models, seed-averaged "
                                     "predictors, paired over test reviews")
    baseline: dict[str, Any] = Field(description="results.json's baseline")
    length: LengthSection = Field(description="accuracy by review length")
    negation: NegationSection = Field(description="negation in real reviews and in probes")
    faithfulness: dict[str, FaithfulnessSummary] = keyed("per model with attention", "<model>")
    attention: AttentionSection
    seed_level: SeedLevelSection | None = Field(
        None, description="seed-level comparisons, conicity and lexicon shares "
        "(attnstudy.analysis.seed_level); absent in analyses written before it existed")
    ledger: list[LedgerRow]


