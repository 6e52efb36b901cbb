"""The records of analysis.json's `seed_level` section (attnstudy.analysis.seed_level): the v3
comparisons at the unit of replication (the training run) and the per-model conicity and
lexicon measures. Loose records, like the rest of analysis.json."""

from __future__ import annotations

from pydantic import Field

from attnstudy.schema.base import Loose, Stat, keyed


class Tost(Loose):
    p: float | None = Field(description="the larger of the two one-sided p-values (null: the "
                            "seeds have no variance to test with)")
    p_lower: float | None = Field(description="H0: difference <= -margin")
    p_upper: float | None = Field(description="H0: difference >= margin")
    equivalent: bool = Field(description="p < alpha (bootstrap: the interval below inside "
                             "+-margin)")


class BootTost(Tost):
    ci_low: float = Field(description="(1 - 2 alpha) percentile interval: low end")
    ci_high: float = Field(description="... high end")
    ci_level: float = Field(description="1 - 2 alpha (0.90)")


class SeedTost(Tost):
    df: float = Field(description="Welch degrees of freedom")


class SeedPair(Loose):
    """A - B on per-seed mean test accuracy (fractions)."""
    a: str = Field(description="model A (or \"baseline\": the TF-IDF fit, one seed)")
    b: str = Field(description="model B")
    why: list[str] = Field(description="why the pair is compared (\"vs bilstm\", an attention "
                           "arm, a claim id, \"model pair\")")
    n_seeds_a: int = Field(description="seeds of A")
    n_seeds_b: int = Field(description="seeds of B")
    n_reviews: int = Field(description="test reviews")
    acc_a: float = Field(description="per-seed mean accuracy of A")
    acc_b: float = Field(description="... of B")
    diff: float = Field(description="acc_a - acc_b")
    ci_low: float = Field(description="hierarchical bootstrap interval (seeds, then the same "
                          "reviews) at ci_level: low end")
    ci_high: float = Field(description="... high end")
    ci_level: float = Field(description="1 - alpha (0.95)")
    se: float = Field(description="standard deviation of the bootstrap replicates")
    p_two_sided: float = Field(description="two-sided bootstrap p of diff")
    tost: BootTost = Field(description="bootstrap TOST against +-margin")
    seed_tost: SeedTost | None = Field(description="Welch TOST on per-seed accuracies (training "
                                       "variance only); null with one seed on either side")
    mde: float = Field(description="minimum detectable difference at the declared power: "
                       "(z_{1-alpha/2} + z_power) * se")
    mde_seeds: float | None = Field(description="the same for a Welch t-test on per-seed "
                                    "accuracies (pooled seed SD); null with one seed")
    seed_sd: float | None = Field(description="pooled SD of per-seed accuracies")
    verdict: str = Field(description="better, worse, equivalent or inconclusive "
                         "(attnstudy.stats.verdicts, with the rerun spread)")
    noise: bool = Field(description="interval excludes 0, difference within the rerun spread")
    verdict_why: str = Field(description="the rule's reason")


class ConicityOverSeeds(Loose):
    n_seeds: int = Field(description="runs with a conicity record")
    states: Stat | None = Field(description="per-run mean over test reviews, over seeds")
    embeddings: Stat | None = Field(description="the same for the token embeddings")
    states_minus_embeddings: Stat | None = Field(description="per seed, states - embeddings")


class HierarchicalMean(Loose):
    mean: float = Field(description="mean over seeds of each run's mean over test reviews")
    ci_low: float = Field(description="hierarchical bootstrap percentile interval: low end")
    ci_high: float = Field(description="... high end")
    level: float = Field(description="the interval's level (0.95)")
    se: float = Field(description="standard deviation of the bootstrap replicates")
    n_boot: int = Field(description="bootstrap replicates")
    n_seeds: int = Field(description="runs")
    n_reviews: int = Field(description="test reviews")


class LexiconOverSeeds(Loose):
    n_seeds: int = Field(description="runs with a lexicon record")
    lift_per_seed: list[float | None] = Field(description="each run's lift, in seed order")
    lift: Stat | None = Field(description="attention mass / token share, over seeds")
    attention_mass: Stat | None = Field(description="over seeds")
    token_share: Stat | None = Field(description="over seeds")
    excess: Stat | None = Field(description="mean per-review mass - share, over seeds")
    excess_hierarchical: HierarchicalMean | None = Field(
        default=None, description="the mean excess with its hierarchical bootstrap interval "
        "(seeds, then test reviews); absent in results without per-review lexicon columns")


class PooledWord(Loose):
    word: str = Field(description="the vocabulary word")
    n_seeds: int = Field(description="seeds whose top list holds it")
    relative_attention: float = Field(description="its mean relative attention over those "
                                      "seeds (1: what uniform weights give)")
    lexicon: bool = Field(description="a VADER lexicon word")


class TopWordsOverSeeds(Loose):
    """runs[].top_words pooled over the seeds of a model."""
    n_seeds: int = Field(description="runs with a top_words record")
    k: int = Field(description="words per run's list (runs[].top_words.k)")
    min_count: int = Field(description="occurrences a word needed to be ranked")
    words: list[PooledWord] = Field(description="the words of any seed's list, most seeds first "
                                    "(then the higher relative attention), the first k")
    in_every_seed: int = Field(description="words in every seed's list")
    lexicon_share: Stat | None = Field(description="share of lexicon words in a seed's list, "
                                       "over seeds")


class _Welch(Loose):
    """The interval part of seed_level.welch: A - B over seeds with a Welch interval."""
    diff: float = Field(description="A - B of the means over seeds")
    ci_low: float | None = Field(description="Welch interval over seeds: low end (null with "
                                 "fewer than two seeds on a side or no spread)")
    ci_high: float | None = Field(description="... high end")
    ci_level: float = Field(description="the interval's level (0.95)")
    n_seeds_a: int = Field(description="seeds of A with the measure")
    n_seeds_b: int = Field(description="seeds of B with the measure")
    separated: str | None = Field(description="\"a_above\": every seed of A above every seed of "
                                  "B; \"b_above\" the reverse; null: the seeds overlap")


class LiftComparison(_Welch):
    """A - B on mean lexicon lift over seeds (attention on embeddings vs on BiLSTM states)."""
    a: str = Field(description="model A (embed_additive)")
    b: str = Field(description="model B (additive)")
    lift_a: float = Field(description="mean lift of A over seeds")
    lift_b: float = Field(description="... of B")


class WelchDiff(_Welch):
    """A - B of a per-run measure, means over seeds, with a Welch interval over seeds."""
    mean_a: float = Field(description="mean of A over seeds")
    mean_b: float = Field(description="... of B")


class FlatArms(Loose):
    """Attention over embeddings (A, embed_additive) vs over BiLSTM states (B, additive)."""
    a: str = Field(description="model A (embed_additive)")
    b: str = Field(description="model B (additive)")
    entropy: WelchDiff = Field(description="each run's median normalised attention entropy "
                               "over test reviews (1 = uniform)")
    conicity: WelchDiff = Field(description="each run's conicity of the vectors it attends over")


class LexiconRule(Loose):
    """paper/claims.toml [[v3_rules]] kind lexicon_share, evaluated."""
    id: str | None = Field(description="the claim id")
    model: str | None = Field(description="the model the rule is about")
    verdict: str = Field(description="supported, partly supported, not supported or "
                         "inconclusive (not measured)")
    measured: bool = Field(description="the model had at least two seeds with a lift")
    interval: str = Field(description="what the excess interval resamples")


class SeedLevelSection(Loose):
    """Seed-level comparisons and the per-model measures of issue #27."""
    basis: str = Field(description="the comparison basis in words")
    margin: float = Field(description="equivalence margin (claims.toml [equivalence])")
    alpha: float = Field(description="level of each one-sided test; intervals at 1 - alpha")
    power: float = Field(description="power of the MDE")
    n_boot: int = Field(description="bootstrap replicates")
    seed: int = Field(description="bootstrap seed (the analysis seed)")
    rerun_spread: dict | None = Field(description="the rerun spread the verdicts use (max, "
                                      "worst model, the results config it was measured on)")
    best_validation_model: str | None = Field(description="highest mean selected validation "
                                              "accuracy")
    models: dict[str, dict] = keyed("n_seeds, seeds and per-seed accuracy (Stat)", "<model>")
    pairs: list[SeedPair] = Field(description="every pair of models and the claims' "
                                              "pairs: the report's headline comparisons")
    conicity: dict[str, ConicityOverSeeds] = keyed("models whose runs record it", "<model>")
    lexicon: dict[str, LexiconOverSeeds] = keyed("models whose runs record it", "<model>")
    lexicon_rule: LexiconRule | None = Field(description="null without such a rule")
    top_words: dict[str, TopWordsOverSeeds] | None = keyed(
        "models whose runs record their most-attended words; absent in analyses written before "
        "it existed", "<model>", default=None)
    lexicon_arms: LiftComparison | None = Field(
        None, description="embed_additive vs additive lexicon lift; null when either lacks "
        "lexicon records")
    flat_arms: FlatArms | None = Field(
        None, description="embed_additive vs additive on attention entropy and conicity; null "
        "when either lacks either record (analyses before it existed: absent)")
    absent: dict[str, list[str]] = keyed("measures and non-contextual models these results "
                                         "lack", "<kind>")
