"""The results files as pydantic models: the one definition that `validate_results` checks and
`schema_markdown` prints as build/results/README.md.

results.json and attention.json are what the pipeline writes, so their records are closed
(`Record`: an undocumented field is an error, so the README cannot miss one). analysis.json is
looser (`Loose`: documented fields required, extra fields allowed) because its sections grow
with the analysis. Types are strict: no str -> int coercion, no bool where an int belongs (an
int is accepted where a float belongs).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from attnstudy.config import PROFILES
from attnstudy.metrics import METRICS
from attnstudy.schema.analysis_records import AnalysisFile
from attnstudy.schema.attention_records import (
    Ablation,
    AttentionStats,
    Conicity,
    CurveAttention,
    LexiconShare,
    TopWords,
)
from attnstudy.schema.base import Hex16, Loose, Record, keyed
from attnstudy.schema.weights import WeightFile

SCHEMA_VERSION = 2
# The results set one build writes (bench.json, written by `bench`, is optional and separate).
RESULT_FILES = ("results.json", "test_predictions.parquet", "attention.json", "analysis.json")

Pair = Annotated[list[int], Field(min_length=2, max_length=2)]


# ----------------------------------------------------------------------------- shared records

class Metrics(Record):
    """Test metrics of P(positive) on the test split (attnstudy.metrics; positive when p >= 0.5)."""
    accuracy: float = Field(description="share of reviews classified correctly")
    f1: float = Field(description="F1 of the positive class")
    precision: float = Field(description="precision of the positive class")
    recall: float = Field(description="recall of the positive class")
    roc_auc: float = Field(description="area under the ROC curve of P(positive)")
    log_loss: float = Field(description="mean binary cross-entropy, p clipped to [1e-7, 1 - 1e-7]")


assert tuple(Metrics.model_fields) == METRICS, "Metrics must list attnstudy.metrics.METRICS"


class Threads(Record):
    XLA_FLAGS: str = Field(description="the XLA_FLAGS environment variable")
    single_thread_xla: bool = Field(description="XLA was limited to one thread per process")
    affinity: list[int] | None = Field(description="CPU cores the process could run on")


class Provenance(Record):
    """Where and how a computation ran (attnstudy.provenance)."""
    git_commit: str = Field(description="commit of the code, or \"unknown\"")
    git_dirty: bool = Field(description="uncommitted changes under code/, paper/ or pyproject.toml")
    python: str = Field(description="Python version")
    packages: dict[str, str] = keyed("versions of the numerical packages", "<package>")
    cpu: str = Field(description="CPU model name")
    cores: int | None = Field(description="os.cpu_count()")
    platform: str = Field(description="platform.platform()")
    threads: Threads | None = Field(None, description="threading settings (results never "
                                   "depend on them); null where not recorded (before schema 2)")
    started: str = Field(description="start time, ISO 8601 UTC")
    finished: str = Field(description="end time, ISO 8601 UTC")
    command: str = Field(description="the command line")


# ----------------------------------------------------------------------------- results.json

class TrainSection(Loose):
    models: list[str] = Field(description="the models trained (attnstudy.config.MODEL_NAMES)")
    seeds: list[int] = Field(description="the seeds each model is trained with")


class ConfigRecord(Loose):
    """The resolved experiment config (paper/experiment.toml for the profile)."""
    profile: str = Field(description="the profile it was resolved for")
    data: dict[str, Any] = Field(description="attnstudy.config.DataConfig fields")
    model: dict[str, Any] = Field(description="attnstudy.config.ModelConfig fields")
    train: TrainSection = Field(description="attnstudy.config.TrainConfig fields, among them:")
    analysis: dict[str, Any] = Field(description="attnstudy.config.AnalysisConfig fields")


class Rows(Record):
    train: int = Field(description="training rows (validation rows held out)")
    validation: int = Field(description="validation rows (checkpoint selection)")
    test: int = Field(description="test rows; test_predictions.parquet has one row per review")


class SplitShares(Record):
    train: float = Field(description="training rows")
    val: float = Field(description="validation rows")
    test: float = Field(description="test rows")


class Checksums(Record):
    train: str = Field(description="sha256 of the local train.parquet (the Hugging Face "
                       "dataset fingerprint when read from the hub)")
    test: str = Field(description="the same for the test split")


class DataSummary(Record):
    """The encoded dataset (attnstudy.data.encode.summary plus its identity)."""
    rows: Rows = Field(description="rows per split")
    positive_share: SplitShares = Field(description="share of positive labels per split")
    vocab_size: int = Field(description="vocabulary size including PAD=0 and UNK=1")
    token_length_percentiles: dict[str, int] = keyed(
        "token counts before truncation (train + validation) at p10, p25, p50, p75, p90, p95, "
        "p99", "<pNN>")
    mean_tokens: float = Field(description="mean tokens per review before truncation")
    truncated_share: SplitShares = Field(description="share of reviews longer than data.max_len")
    unk_rate_test: float = Field(description="share of kept test tokens mapped to UNK")
    fingerprint: str = Field(description="identifies the data (from the checksums)")
    checksums: Checksums = Field(description="of the IMDb files read")
    grouping: Literal["film", "review"] = Field(
        description="how validation rows were held out: whole films, or single reviews")


class ModelInfo(Record):
    params: int = Field(description="trainable parameters")
    description: str = Field(description="one line on the architecture")


class CurvePoint(Record):
    step: int = Field(description="training step")
    train_loss: float = Field(description="mean training loss since the previous point")
    val_loss: float = Field(description="validation log loss")
    val_accuracy: float = Field(description="validation accuracy")
    train_seconds: float | None = Field(None, description="training wall time up to this step, "
                                        "validation excluded; absent in older runs")
    train_tokens: int | None = Field(None, description="real (unpadded) training tokens seen up "
                                     "to this step; absent in older runs")
    attention: CurveAttention | None = Field(
        None, description="additive and mhsa; absent for other models and in runs trained "
        "before it was recorded")


class Faithfulness(Record):
    """attnstudy.evaluation.faithfulness.measure; lists are aligned with `k`."""
    k: list[int] = Field(description="numbers of tokens erased")
    top_drop: list[float] = Field(description="mean |P(positive) change| erasing the k "
                                  "most-attended tokens")
    random_drop: list[float] = Field(description="the same erasing k random tokens")
    top_flip: list[float] = Field(description="share of decisions flipped (top k erased)")
    random_flip: list[float] = Field(description="share of decisions flipped (random k erased)")
    drop_diff_ci_low: list[float] = Field(description="bootstrap 95% CI over reviews of "
                                          "mean(top change - random change): low end")
    drop_diff_ci_high: list[float] = Field(description="... high end")
    grad_spearman: float | None = Field(description="mean Spearman correlation of attention "
                                        "and gradient importance over reviews")
    n_reviews: int = Field(description="test reviews measured")
    n_spearman: int = Field(description="reviews with a defined Spearman correlation")


class Run(Record):
    """One trained and evaluated model x seed (training record + evaluation record)."""
    model: str = Field(description="model name")
    seed: int = Field(description="training seed")
    run_key: str = Field(description="its cache folder, `<model>-seed<k>-<key>`")
    params: int = Field(description="trainable parameters")
    steps: int = Field(description="training steps run")
    best_step: int = Field(description="the selected validation point's step (see `select`); "
                           "its parameters are the ones evaluated")
    select: str = Field("val_loss", description="checkpoint criterion: `val_loss` (lowest "
                        "validation loss) or `val_accuracy` (highest, ties to the lower loss); "
                        "absent (val_loss) in runs trained before it was recorded")
    epochs: float | None = Field(None, description="training examples seen / training rows; "
                                 "absent in runs trained before it was recorded")
    stopped: str | None = Field(None, description="why training stopped: `budget` (the step "
                                "budget ran out); absent in runs trained before it was recorded")
    curve: list[CurvePoint] = Field(description="one point per validation evaluation")
    train_seconds: float = Field(description="training wall time, validation excluded")
    tokens_per_second: float = Field(description="training throughput in real (unpadded) tokens")
    provenance: Provenance | None = Field(description="where the run was trained; null for "
                                          "runs migrated from schema version 1")
    test: Metrics
    confusion: Annotated[list[Pair], Field(min_length=2, max_length=2)] = Field(
        description="[[tn, fp], [fn, tp]] on the test split")
    eval_seconds: float = Field(description="test-set prediction wall time")
    eval_reviews_per_second: float = Field(description="test reviews per second")
    probes: list[float] = Field(description="P(positive) per probe sentence, in paper/probes.tsv "
                                "order")
    faithfulness: Faithfulness | None = Field(description="for additive and mhsa, else null")
    ablations: dict[str, Ablation] | None = keyed(
        "additive: uniform, permuted; mhsa: also none (the attention sublayer skipped, the "
        "block's output LayerNorm(h)); null for other models; absent in runs evaluated before "
        "it was recorded", "<ablation>", default=None)
    attention_stats: AttentionStats | None = Field(
        None, description="additive and mhsa, else null; absent in runs evaluated before it was "
        "recorded")
    conicity: Conicity | None = Field(None, description="every model; absent in runs evaluated "
                                      "before it was recorded")
    lexicon: LexiconShare | None = Field(
        None, description="models with attention weights per token (additive, mhsa, "
        "embed_additive), else null; absent in runs evaluated before it was recorded")
    top_words: TopWords | None = Field(
        None, description="the same models' most-attended words, else null; absent in runs "
        "evaluated before it was recorded")


class Baseline(Record):
    """TF-IDF + logistic regression on the same rows (attnstudy.analysis.baseline)."""
    name: str = Field(description="\"tfidf_logreg\"")
    description: str = Field(description="its settings in words")
    test: Metrics
    train_rows: int = Field(description="training rows it was fitted on")
    features: int = Field(description="TF-IDF features")
    seconds: float = Field(description="fit and predict wall time")


class ResultsFile(Record):
    """Everything measured: one record per run, the data summary, the baseline, provenance."""
    schema_version: int = Field(description="version of this schema")
    profile: Literal[PROFILES] = Field(description="the profile built")
    config: ConfigRecord
    config_hash: Hex16 = Field(description="hash of the config sections; every file agrees")
    build_key: str = Field(description="identifies all the results files are made from (config, "
                           "runs, evaluations, baseline, code, libraries); reused while it matches")
    data: DataSummary
    models: dict[str, ModelInfo] = keyed("every model in config.train.models", "<model>")
    runs: list[Run] = Field(description="one per model x seed")
    baseline: Baseline
    provenance: Provenance = Field(description="where these files were aggregated")
    weights: dict[str, WeightFile] | None = keyed(
        "weights/: `<model>.msgpack` (first seed's parameters), `vocab.json`, `config.json` "
        "(attnstudy.pipeline.publish); absent in older results", "<file>", default=None)


# ----------------------------------------------------------------------------- test_predictions

class PredictionColumns(Record):
    """One row per test review, in test-split order. Besides these columns, one float column of
    P(positive) per run named `<model>/seed<k>` (e.g. `mhsa/seed0`) and, for runs of models
    with attention weights, `<model>/seed<k>/lexicon_mass` (the attention mass on VADER lexicon
    words) with one `lexicon_share` column (those words' share of the review's real tokens; the
    evaluation's lexicon measure, attnstudy.evaluation.lexicon); results written before these
    columns existed lack them."""
    id: str = Field(description="review id")
    label: int = Field(description="1 positive, 0 negative")
    length: int = Field(description="tokens before truncation")
    negation: bool = Field(description="the review's full token list (before truncation and "
                           "vocabulary mapping) contains a negation cue "
                           "(attnstudy.data.text.NEGATION_CUES)")
    baseline: float = Field(description="the TF-IDF baseline's P(positive)")


# ----------------------------------------------------------------------------- attention.json

class Sample(Record):
    id: str = Field(description="review id")
    label: Literal[0, 1] = Field(description="1 positive, 0 negative")
    tokens: list[str] = Field(description="tokens as the models saw them (truncated, `<unk>` kept)")
    probs: dict[str, float] = keyed("P(positive) of the shown seed", "<model>")
    additive: list[float] | None = Field(description="additive attention weight per token "
                                         "(sums to 1); null without that model")
    mhsa_received: list[float] | None = Field(description="mhsa attention received per token, "
                                              "mean over heads and queries; null without mhsa")
    mhsa: list[list[list[float]]] | None = Field(
        description="mhsa weights [head][query][key]; null unless len(tokens) <= "
        "analysis.attention_max_len")


class AttentionFile(Record):
    """Attention of the first seed's models on a fixed, seeded sample of test reviews."""
    schema_version: int = Field(description="version of this schema")
    config_hash: Hex16 = Field(description="equals results.json's")
    seed: int = Field(description="the seed whose models are shown")
    samples: list[Sample] = Field(description="half of them short enough for `mhsa` matrices")


# file name -> model (test_predictions.parquet is checked column by column)
FILES = {"results.json": ResultsFile, "attention.json": AttentionFile,
         "analysis.json": AnalysisFile}
