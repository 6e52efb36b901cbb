"""Published weights (attnstudy.pipeline.publish): a smoke build exports them beside its results;
from them alone (a fresh clone: no data folder, no run cache, no network) `predict`, `predict
--explain` and `evaluate` work and reproduce the stored seed-0 test predictions bit for bit.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attnstudy.config import load_config
from attnstudy.files import read_json, write_json
from attnstudy.keys import file_digest
from tests.cli import ROOT, cli, run_main

# On a CPU other than the one that trained the published runs, `predict` may pick other kernels:
# P(positive) agrees to this absolute tolerance (9.6e-5 measured on an Intel Xeon with AMX).
CROSS_CPU_TOL = 1e-3

CFG = load_config("smoke")
MODELS = list(CFG.train.models)


@pytest.fixture(scope="module")
def built(smoke_build) -> Path:
    """The session's smoke build (conftest): its run cache and its results with weights/."""
    return smoke_build


@pytest.fixture
def fresh(built, tmp_path) -> Path:
    """A fresh clone's build folder: the committed results (with weights/) and nothing else."""
    shutil.copytree(built / "smoke" / "results", tmp_path / "build" / "smoke" / "results")
    return tmp_path / "build"


def weights(build: Path) -> Path:
    return build / "smoke" / "results" / "weights"


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def predict_json(build: Path, model: str, *args, imdb_dir=None) -> list[dict]:
    """`predict --json` in a CLI process: single-threaded XLA, as the evaluation ran."""
    p = cli(build, "predict", "--profile", "smoke", "--model", model, "--json", *args,
            imdb_dir=imdb_dir)
    return [json.loads(line) for line in p.stdout.splitlines()]


def here(monkeypatch, capsys, build: Path, *args, imdb_dir=None) -> str:
    """stdout of the CLI run in this process (tests.cli.run_main), which must succeed: for
    checks that compare no bits with a single-threaded process's, at no process start."""
    code, out, err = run_main(monkeypatch, capsys, build, *args, imdb_dir=imdb_dir)
    assert code == 0, err[-3000:]
    return out


def predict_here(monkeypatch, capsys, build: Path, model: str, *args) -> list[dict]:
    """`predict --json` in this process (`here`)."""
    out = here(monkeypatch, capsys, build, "predict", "--profile", "smoke", "--model", model,
               "--json", *args)
    return [json.loads(line) for line in out.splitlines()]


# ----------------------------------------------------------------------------- export

def test_export_writes_the_evaluated_parameters_with_checksums(built):
    from flax import serialization

    from attnstudy.schema import validate_results

    results = built / "smoke" / "results"
    validate_results(results)
    record = read_json(results / "results.json")["weights"]
    names = [f"{m}.msgpack" for m in MODELS] + ["vocab.json", "config.json"]
    assert list(record) == names
    assert sorted(p.name for p in weights(built).iterdir()) == sorted(names)
    for name, rec in record.items():
        path = weights(built) / name
        assert rec == {"sha256": file_digest(path), "bytes": path.stat().st_size}
    for m in MODELS:  # the very parameters evaluated: the run's best, float32, bit for bit
        best = next((built / "cache" / "runs").glob(f"{m}-seed0-*/best_params.msgpack"))
        ours = serialization.msgpack_restore((weights(built) / f"{m}.msgpack").read_bytes())
        theirs = serialization.msgpack_restore(best.read_bytes())
        flat = dict(zip(*_flat(ours), strict=True))
        assert flat.keys() == dict(zip(*_flat(theirs), strict=True)).keys()
        for key, a in zip(*_flat(theirs), strict=True):
            assert flat[key].dtype == np.float32 and flat[key].tobytes() == a.tobytes(), key
    vocab = json.loads((weights(built) / "vocab.json").read_text(encoding="utf-8"))
    cached = np.load(next((built / "cache" / "data").glob("*.npz")))["vocab"]
    assert vocab == [str(w) for w in cached] and vocab[:2] == ["<pad>", "<unk>"]
    assert read_json(weights(built) / "config.json") == json.loads(json.dumps(CFG.to_dict()))
    total = sum(r["bytes"] for r in record.values())
    assert total < 45e6


def _flat(tree, prefix=()):
    keys, leaves = [], []
    for k, v in tree.items():
        if isinstance(v, dict):
            ks, ls = _flat(v, (*prefix, k))
            keys += ks
            leaves += ls
        else:
            keys.append((*prefix, k))
            leaves.append(np.asarray(v))
    return keys, leaves


# ----------------------------------------------------------------------------- use, without data

def test_weights_reproduce_the_stored_test_predictions_bit_for_bit(built, fresh, imdb_dir,
                                                                   tmp_path):
    """Every model's seed-0 P(positive) on the smoke test split, recomputed by `predict` from
    the published weights alone, equals the run's test_probs.npy and the results' column."""
    from attnstudy.data import imdb

    preds = pd.read_parquet(built / "smoke" / "results" / "test_predictions.parquet")
    texts = imdb.load_texts(preds["id"].to_numpy(), "test", imdb_dir)
    inputs = jsonl(tmp_path / "test.jsonl", [{"text": t} for t in texts])
    # one process for every model (one chunk: all reviews model by model), as a reader would
    out = predict_json(fresh, "all", "--input", inputs, "--batch-size", len(texts) + 1)
    assert [r["model"] for r in out] == [m for m in MODELS for _ in texts]
    for i, m in enumerate(MODELS):
        lines = out[i * len(texts):(i + 1) * len(texts)]
        assert [r["text"] for r in lines] == texts
        probs = np.array([r["prob"] for r in lines], np.float64)
        assert np.array_equal(probs.astype(np.float32).astype(np.float64), probs)  # exact f32
        stored = np.load(next((built / "cache" / "runs").glob(f"{m}-seed0-*/eval-*/"
                                                                "test_probs.npy")))
        assert stored.dtype == np.float32
        assert probs.astype(np.float32).tobytes() == stored.tobytes(), m
        assert np.array_equal(probs, preds[f"{m}/seed0"].to_numpy(np.float64)), m
    assert not (fresh / "cache" / "runs").exists()  # no run cache was needed


def test_predict_explain_gives_attention_and_gradient_importance(fresh, monkeypatch, capsys):
    text = "A wonderful film. I didn't expect to love it, but the acting is superb zzyzx!"
    plain = predict_here(monkeypatch, capsys, fresh, "mhsa", text)[0]
    for m in ("additive", "mhsa", "bilstm"):
        rec = predict_here(monkeypatch, capsys, fresh, m, "--explain", text)[0]
        assert {"text", "tokens", "in_vocab", "weights", "importance", "prob",
                "decision"} <= set(rec)
        n = len(rec["tokens"])
        assert rec["tokens"][:3] == ["a", "wonderful", "film"] and "n't" in rec["tokens"]
        assert rec["in_vocab"][rec["tokens"].index("zzyzx")] is False
        assert len(rec["importance"]) == n and min(rec["importance"]) >= 0
        assert max(rec["importance"]) > 0
        assert rec["decision"] == ("positive" if rec["prob"] >= 0.5 else "negative")
        if m == "bilstm":
            assert rec["weights"] is None  # no attention: importance only
        else:  # additive weights, and attention received (mean over heads, queries) sum to 1
            assert len(rec["weights"]) == n and min(rec["weights"]) >= 0
            assert abs(sum(rec["weights"]) - 1) < 1e-3
    assert predict_here(monkeypatch, capsys, fresh, "mhsa", "--explain", text)[0]["prob"] == (
        plain["prob"])
    out = here(monkeypatch, capsys, fresh, "predict", "--profile", "smoke", "--model",
               "additive", "--explain", text)
    assert "attention" in out and "gradient" in out and "wonderful" in out and "top:" in out
    out = here(monkeypatch, capsys, fresh, "predict", "--profile", "smoke", "--model", "bilstm",
               "--explain", text)
    assert "bilstm has no attention" in out and "gradient" in out


@pytest.fixture
def labelled(tmp_path) -> dict[str, Path]:
    """The same labelled reviews as CSV, TSV, Parquet and JSON lines."""
    df = pd.DataFrame({"text": ["a great film, loved it", "dull and boring", "superb acting",
                                "awful, a waste of time", "not bad at all", "I hated it"] * 3,
                       "label": [1, 0, 1, 0, 1, 0] * 3})
    files = {"csv": tmp_path / "x.csv", "tsv": tmp_path / "x.tsv",
             "parquet": tmp_path / "x.parquet", "jsonl": tmp_path / "x.jsonl"}
    df.to_csv(files["csv"], index=False)
    df.to_csv(files["tsv"], index=False, sep="\t")
    df.to_parquet(files["parquet"], index=False)
    df.to_json(files["jsonl"], orient="records", lines=True)
    return files


def test_every_input_format_reads_the_same_rows(labelled):
    from attnstudy.cli.inputs import iter_inputs

    read = {k: list(iter_inputs([], f, "text", "label", chunk=4)) for k, f in labelled.items()}
    assert all(chunks == read["csv"] for chunks in read.values())
    assert [len(t) for t, _ in read["csv"]] == [4, 4, 4, 4, 2]
    assert read["csv"][0] == (["a great film, loved it", "dull and boring", "superb acting",
                               "awful, a waste of time"], [1, 0, 1, 0])


def test_evaluate_gives_accuracy_with_ci_and_paired_differences(fresh, labelled, monkeypatch,
                                                               capsys):
    from attnstudy.stats.bootstrap import paired_bootstrap

    res = json.loads(here(monkeypatch, capsys, fresh, "evaluate", "--profile", "smoke", "--input",
                          labelled["parquet"], "--json"))
    assert res["n"] == 18 and res["ci_level"] == 0.95
    assert [(r["model"], r["seed"]) for r in res["runs"]] == [(m, 0) for m in MODELS]
    y = np.array([1, 0, 1, 0, 1, 0] * 3)
    checked = ("additive", "mhsa")  # recomputed from `predict`'s probabilities
    probs = {m: np.array([r["prob"] for r in predict_here(monkeypatch, capsys, fresh, m,
                                                          "--input", labelled["jsonl"])])
             for m in checked}
    correct = {m: (p >= 0.5) == y for m, p in probs.items()}
    for r in res["runs"]:
        assert r["source"].endswith("weights")
        assert r["ci_low"] <= r["accuracy"] <= r["ci_high"]
        if r["model"] in checked:
            assert r["accuracy"] == correct[r["model"]].mean()
    assert [(r["a"], r["b"]) for r in res["pairwise"]] == list(itertools.combinations(MODELS, 2))
    for r in res["pairwise"]:
        assert r["ci_low"] <= r["acc_diff"] <= r["ci_high"] and r["p"] <= r["p_holm"] <= 1
        if (r["a"], r["b"]) == checked:
            want = paired_bootstrap(correct["additive"], correct["mhsa"],
                                    CFG.analysis.bootstrap_samples, CFG.analysis.seed)
            assert {k: r[k] for k in want} == want
    text = here(monkeypatch, capsys, fresh, "evaluate", "--profile", "smoke", "--input",
                labelled["tsv"])
    assert text.count("95% CI") == len(MODELS) + 1 and "paired differences" in text


def test_the_run_cache_comes_first_when_present(built, imdb_dir, labelled, monkeypatch, capsys):
    res = json.loads(here(monkeypatch, capsys, built, "evaluate", "--profile", "smoke", "--input",
                          labelled["csv"], "--json", imdb_dir=imdb_dir))
    assert len(res["runs"]) == len(MODELS) * len(CFG.train.seeds)
    assert {r["source"] for r in res["runs"]} == {"run cache"}


def test_without_a_data_folder_the_published_weights_serve_though_runs_are_cached(
        built, fresh, monkeypatch, capsys):
    """A cached run would need the dataset (from the hub) for its vocabulary; offline, with no
    IMDB_DIR, the published seed comes from weights/ (as in a fresh clone), not a hub error."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    args = ("mhsa", "a fine film", "not a fine film")
    assert predict_here(monkeypatch, capsys, built, *args) == \
        predict_here(monkeypatch, capsys, fresh, *args)


# ----------------------------------------------------------------------------- bad inputs

def _drop_bilstm(build: Path) -> None:
    results = build / "smoke" / "results" / "results.json"
    res = read_json(results)
    del res["weights"]["bilstm.msgpack"]
    write_json(results, res)
    (weights(build) / "bilstm.msgpack").unlink()


def _flip_byte(name: str):
    def change(build: Path) -> None:
        path = weights(build) / name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))
    return change


def _no_record(build: Path) -> None:
    results = build / "smoke" / "results" / "results.json"
    res = read_json(results)
    del res["weights"]
    write_json(results, res)


@pytest.mark.parametrize("change, args, message", [
    (_drop_bilstm, ["predict", "--model", "bilstm", "fine"],
     "no trained bilstm (seed 0) for the smoke profile; "),
    (None, ["predict", "--model", "mhsa", "--seed", "9", "fine"],
     "no trained mhsa (seed 9) for the smoke profile (its seeds: 0, 1)"),
    (None, ["predict", "--model", "mhsa", "--seed", "1", "fine"], "holds seed 0 of"),
    (None, ["predict", "--model", "mhsa", "  "], "text 1 is empty"),
    (_flip_byte("mhsa.msgpack"), ["predict", "--model", "mhsa", "fine"],
     "mhsa.msgpack: checksum differs from results.json's"),
    (_flip_byte("vocab.json"), ["predict", "--model", "bilstm", "fine"],
     "vocab.json: checksum differs from results.json's"),
    (_no_record, ["predict", "--model", "mhsa", "fine"], "records no checksums"),
])
def test_bad_inputs_are_one_line_errors(fresh, change, args, message, monkeypatch, capsys):
    if change is not None:
        change(fresh)
    code, _, err = run_main(monkeypatch, capsys, fresh, args[0], "--profile", "smoke", *args[1:])
    err = err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("name, content, message", [
    ("bad.csv", "review,label\nnice,1\n", "has no column 'text' (columns: review, label)"),
    ("none.csv", "text,label\n", "the input holds no reviews"),
])
def test_bad_files_are_one_line_errors(fresh, tmp_path, name, content, message, monkeypatch,
                                      capsys):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, _, err = run_main(monkeypatch, capsys, fresh, "evaluate", "--profile", "smoke",
                            "--input", path)
    err = err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("name, content, message", [
    ("bad.jsonl", '{"review": "nice", "label": 1}\n', "has no column 'text'"),
    ("bad.parquet", None, "has no column 'text' (columns: review, label)"),
    ("empty.tsv", "text\tlabel\ngood\t1\n \t0\n", "empty.tsv:3: empty text"),
    ("empty.jsonl", '{"text": "good", "label": 1}\n{"text": "", "label": 0}\n',
     "empty.jsonl:2: empty text"),
    ("empty.parquet", None, "empty.parquet: row 2: empty text"),
    ("label.jsonl", '{"text": "good", "label": 2}\n', "label 2 is not 0 or 1"),
    ("broken.jsonl", '{"text": "good"\n', "broken.jsonl:1: not a JSON object"),
])
def test_bad_rows_in_any_format_are_one_line_errors(tmp_path, name, content, message):
    from attnstudy.cli.inputs import iter_inputs
    from attnstudy.errors import UserError

    path = tmp_path / name
    if name == "bad.parquet":
        pd.DataFrame({"review": ["nice"], "label": [1]}).to_parquet(path)
    elif name == "empty.parquet":
        pd.DataFrame({"text": ["good", None], "label": [1, 0]}).to_parquet(path)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError) as e:
        list(iter_inputs([], path, "text", "label", chunk=10))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_json_lines_survive_line_separators_in_reviews():
    from attnstudy.cli.predict import json_line

    rec = {"text": "caf\u00e9\u2028next\x85line\u2029end", "prob": 0.5}
    line = json_line(rec)
    assert line.splitlines() == [line] and "café" in line
    assert json.loads(line) == rec


def test_committed_weights_reproduce_the_committed_predictions(imdb_dir, tmp_path):
    """The published study's own weights (build/results/weights, seed 0 of every model), used by
    `predict` on a fresh clone, give the committed test_predictions.parquet column bit for bit
    on one real evaluation batch: the 256 rows the evaluation put in the first full batch of
    width 128, so the shapes, the batch's rows and their order are those of the published
    evaluation. (At publication the whole test set was checked the same way.) Through the CLI,
    as a reader runs it: single-threaded XLA, as the evaluation ran; with XLA's default threads
    the last bits of some models' small batches differ.

    Bit for bit holds on the CPU the runs were trained and evaluated on (their provenance).
    Another CPU picks other kernels: on an Intel Xeon with AMX, the same batch moved P(positive)
    by at most 9.6e-5 (bilstm_matched) and changed no decision, so there the test asks for
    agreement within CROSS_CPU_TOL and the same decisions."""
    from attnstudy.data import imdb
    from attnstudy.data.batches import eval_batches
    from attnstudy.data.encode import encode_texts
    from attnstudy.metrics import THRESHOLD
    from attnstudy.pipeline import publish
    from attnstudy.provenance import cpu_name

    results = ROOT / "build" / "results"
    pub = publish.load_published(results / publish.WEIGHTS)
    assert pub is not None, "no published weights in build/results/weights"
    preds = pd.read_parquet(results / "test_predictions.parquet")
    texts = imdb.load_texts(preds["id"].to_numpy(), "test", imdb_dir)
    lengths = encode_texts(texts, pub.vocab, pub.cfg.data).lengths
    bs = pub.cfg.train.eval_batch_size
    _, idx, _ = next(b for b in eval_batches(lengths, pub.cfg.data.bucket_edges, bs)
                     if b[0] == 128 and b[2] == bs)
    rows = np.sort(idx)  # split order, which the stable length sort of `predict` keeps
    trained_on = {r["provenance"]["cpu"] for r in json.loads((results / "results.json").read_text())
                  ["runs"] if r["seed"] == pub.seed and r["provenance"]}
    same_cpu = trained_on == {cpu_name()}
    fresh = tmp_path / "build"
    shutil.copytree(results, fresh / "results")  # a fresh clone: no run cache, no data
    inputs = jsonl(tmp_path / "batch.jsonl", [{"text": texts[i]} for i in rows])
    assert {f"{m}/seed{pub.seed}" for m in pub.models} <= set(preds.columns)
    # every model in one process (`--model all`), each as its own `predict` would run it
    p = cli(fresh, "predict", "--profile", pub.cfg.profile, "--model", "all", "--json",
            "--input", inputs, "--batch-size", bs)
    recs = [json.loads(line) for line in p.stdout.splitlines()]
    assert set(pub.models) == set(pub.cfg.train.models)
    assert [r["model"] for r in recs] == [m for m in pub.cfg.train.models for _ in rows]
    for m in pub.models:
        probs = np.array([r["prob"] for r in recs if r["model"] == m])
        ref = preds[f"{m}/seed{pub.seed}"].to_numpy(np.float32)[rows]
        if same_cpu:
            assert probs.astype(np.float32).tobytes() == ref.tobytes(), m
        else:
            assert np.abs(probs - ref).max() <= CROSS_CPU_TOL, m
            assert ((probs >= THRESHOLD) == (ref >= THRESHOLD)).all(), m


def test_the_committed_analysis_is_what_the_code_derives():
    """build/results/analysis.json carries the key of everything it is derived from (the other
    results files, the probes, the claims and ledger templates, the analysis code): a change to
    any of them without re-running `just build` leaves a stale committed analysis (its verdict
    sentences in the report and the README) and fails here, cheaply, before a reader's fresh
    clone re-renders something else than what is committed."""
    from attnstudy.pipeline import results as pipeline_results

    committed = read_json(ROOT / "build" / "results" / "analysis.json")["analysis_key"]
    derived = pipeline_results.analysis_key(load_config("full"), ROOT / "build" / "results")
    assert committed == derived, "stale build/results/analysis.json: run `just build` and commit"
