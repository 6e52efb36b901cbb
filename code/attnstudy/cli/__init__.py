"""Command line: `python -m attnstudy <command>`. Run with `-h` for the list; the `predict` and
`evaluate` commands live in cli.predict and cli.evaluate, their input files in cli.inputs.

Any error a user can fix prints one line (`attnstudy: error: ...`) and exits with status 2;
finished runs and earlier results are never touched by a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from attnstudy.config import (
    BUILD,
    MODEL_DESCRIPTIONS,
    MODEL_NAMES,
    PROFILES,
    ROOT,
    load_config,
    output_dir,
    same_experiment,
)
from attnstudy.errors import UserError


def _config(args):
    return load_config(args.profile, args.config, getattr(args, "settings", None))


def _data_dir(args) -> None:
    if getattr(args, "data_dir", None):
        os.environ["IMDB_DIR"] = str(args.data_dir)


def cmd_data(args) -> None:
    from attnstudy.data.encode import load_dataset, summary

    cfg = _config(args)
    ds = load_dataset(cfg.data)
    s = summary(ds, cfg.data.max_len)
    if args.json:
        print(json.dumps(s, indent=1))
        return
    rows = s["rows"]
    print(f"IMDb ({cfg.profile} profile), fingerprint {ds.fingerprint}")
    print(f"  rows        train {rows['train']:,} / validation {rows['validation']:,} / "
          f"test {rows['test']:,}")
    print(f"  vocabulary  {s['vocab_size']:,} (PAD=0, UNK=1; built from the training part only)")
    pct = "  ".join(f"{k} {v}" for k, v in s["token_length_percentiles"].items())
    print(f"  tokens      mean {s['mean_tokens']:.0f}  {pct}")
    tr = s["truncated_share"]
    print(f"  truncated   at {cfg.data.max_len} tokens ({cfg.data.truncation}): "
          f"train {tr['train']:.1%}, validation {tr['val']:.1%}, test {tr['test']:.1%}")
    print(f"  unknown     {s['unk_rate_test']:.1%} of test tokens map to UNK")


def cmd_models(args) -> None:
    import jax

    from attnstudy.models import classifiers as models

    cfg = _config(args)
    vocab = cfg.data.vocab_size
    counts = {}
    print(f"{'model':<16}{'parameters':>12}  description")
    for name in MODEL_NAMES:
        m = models.build_model(name, cfg.model, vocab, cfg.data.max_len)
        counts[name] = models.param_count(  # the shapes, traced (eval_shape), not computed
            jax.eval_shape(lambda m=m: models.init_params(m, 0, cfg.data.max_len)))
        print(f"{name:<16}{counts[name]:>12,}  {MODEL_DESCRIPTIONS[name]}")
    gap = counts["bilstm_matched"] / counts["mhsa"] - 1
    print(f"bilstm_matched vs mhsa: {gap:+.3%} parameters (vocabulary {vocab:,})")


def _models_arg(values):
    bad = [m for m in values or [] if m not in MODEL_NAMES]
    if bad:
        raise UserError(f"unknown model {bad[0]!r} (known: {', '.join(MODEL_NAMES)})")
    return values


def cmd_train(args) -> None:
    from attnstudy.pipeline import runs as pipeline

    cfg = _config(args)
    runs = pipeline.run_all(cfg, _models_arg(args.models), args.seeds, args.workers,
                          executor=_executor(args))
    for r in runs:
        print(f"{r['model']:<16} seed {r['seed']}  test accuracy {r['test']['accuracy']:.4f}  "
              f"(best step {r['best_step']}/{r['steps']})")


def cmd_build(args) -> None:
    from attnstudy.pipeline import results as pipeline
    from attnstudy.pipeline.cache import results_dir
    from attnstudy.report import readme
    from attnstudy.report import render as report

    cfg = _config(args)
    if not args.render_only:
        pipeline.write_results(cfg, n_workers=args.workers, retrain=args.retrain,
                               executor=_executor(args))
        if getattr(args, "settings", None):
            from attnstudy.pipeline import sweep

            sweep.attach(cfg, args.settings, results_dir(cfg))
    check_results_match(cfg)
    results = results_dir(cfg)
    paths = report.render(results, output_dir(cfg.profile), pdf=not args.no_pdf)
    if BUILD == ROOT / "build" and cfg.profile == "full":  # the published report only
        readme.update_readme(ROOT / "README.md", results)
    for k, p in paths.items():
        print(f"{k}: {p}")


def cmd_sweep(args) -> None:
    from attnstudy.pipeline import sweep

    cfg = _config(args)
    sw = sweep.load_sweep(args.sweep or sweep.SWEEP)
    record = sweep.run_sweep(cfg, sw, args.workers)
    for st in record["stages"]:
        for m in st["models"] if st["scope"] == "per_model" else st["models"][:1]:
            c = st["choices"][m]
            who = m if st["scope"] == "per_model" else f"shared ({', '.join(st['models'])})"
            scores = "  ".join(f"{v}: {a:.4f}" for v, a in c["scores"].items())
            edge = f"  AT {c['edge'].upper()} EDGE" if c["at_edge"] else ""
            print(f"{st['setting']:<14}{who:<28}-> {c['value']}{edge}   [{scores}]")
    n = record["seeds"]
    which = ("the config's own: fewer than the minimum" if len(n["seeds"]) < n["minimum"]
             else "the goal" if n["goal_fits"] else "the minimum")
    print(f"seeds: {len(n['seeds'])} ({which}; sweep "
          f"{n['sweep_hours']:.1f} h + the goal's retrain {n['goal_retrain_hours']:.1f} h vs a "
          f"budget of {n['budget_hours']:g} h)")
    for r in record["final_runs"].values():
        print(f"final seed-{record['seed']} run {r['run_key']}"
              f"{' (trained by the sweep)' if r['trained_by_sweep'] else ''}")
    for p in sweep.write_sweep(record, args.out or sweep.sweep_dir(cfg.profile)):
        print(p)


def cmd_carry(args) -> None:
    from attnstudy.pipeline import carry

    if args.action == "pack":
        for path in carry.pack(params=tuple(args.params)):
            print(path)
    else:
        runs = carry.unpack()
        print(f"{len(runs)} run(s) restored into {carry.CACHE / 'runs'}")


def check_results_match(cfg) -> None:
    from attnstudy.files import read_json
    from attnstudy.pipeline.cache import results_dir
    from attnstudy.schema import SCHEMA_VERSION

    path = results_dir(cfg) / "results.json"
    if not path.exists():
        raise UserError(f"no results in {path.parent}; run `just build {cfg.profile}`")
    res = read_json(path)
    if res.get("schema_version") != SCHEMA_VERSION:
        raise UserError(f"{path} has schema version {res.get('schema_version')}, expected "
                        f"{SCHEMA_VERSION}; rerun `just build {cfg.profile}`")
    if not same_experiment(res.get("config", {}), cfg):
        raise UserError(f"{path} was made with another config (hash {res.get('config_hash')}, "
                        f"profile {res.get('profile')}); rerun `just build {cfg.profile}`")


def cmd_predict(args) -> None:
    from attnstudy.cli import predict
    from attnstudy.cli.inputs import iter_inputs

    cfg = _config(args)
    asked = [m.strip() for m in args.model.split(",")]
    if "all" in asked and asked != ["all"]:
        raise UserError("--model all stands alone (it means every model of the profile)")
    names = list(cfg.train.models) if asked == ["all"] else _models_arg(list(dict.fromkeys(asked)))
    if not args.texts and args.input is None:
        raise UserError("give review texts or --input FILE")
    chunks = iter_inputs(args.texts, args.input, args.column, args.label_column,
                                 args.batch_size)
    predict.predict_command(cfg, names, args.seed, chunks, explain=args.explain,
                            as_json=args.json)


def cmd_evaluate(args) -> None:
    from attnstudy.cli import evaluate
    from attnstudy.cli.inputs import iter_inputs

    cfg = _config(args)
    chunks = iter_inputs([], args.input, args.column, args.label_column, args.batch_size)
    evaluate.evaluate_command(cfg, chunks, as_json=args.json)


def cmd_bench(args) -> None:
    from attnstudy.bench import bench

    bench.main(_config(args), quick=args.quick)


def cmd_schema(args) -> None:
    from attnstudy import schema

    if args.check is not None:
        schema.validate_results(args.check)
        print(f"{args.check}: valid results (schema version {schema.SCHEMA_VERSION})")
        return
    sys.stdout.write(schema.schema_markdown())


def cmd_rerun_spread(args) -> None:
    from attnstudy.analysis import rerun
    from attnstudy.report.wording import RERUN_SPREAD

    rec = rerun.measure(args.published, args.rerun)
    out = args.out or RERUN_SPREAD
    out.write_text(rerun.to_toml(rec), encoding="utf-8")
    worst = max(rec["accuracy"].values(), key=lambda v: abs(v["rerun"] - v["published"]))
    print(f"{out}: {len(rec['accuracy'])} runs of seed {rec['seed']} ({rec['published_cpu']} -> "
          f"{rec['rerun_cpu']}); largest accuracy change "
          f"{100 * abs(worst['rerun'] - worst['published']):.2f} points, "
          f"largest P(positive) change {rec['max_prob_change']:.3g}")


def _executor(args):
    from attnstudy.pipeline import executors

    return executors.from_setting(args.cluster)


CLUSTER_HELP = ("train on a Ray cluster: 'auto' starts one on this machine, ray://HOST:PORT or "
                "HOST:PORT joins one (default: $ATTNSTUDY_CLUSTER, else local workers)")
WORKERS_HELP = ("training processes side by side (default: $ATTNSTUDY_WORKERS, else one per "
                "core); results do not depend on it")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="attnstudy", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", default="full", help=f"one of {', '.join(PROFILES)}")
    common.add_argument("--config", type=Path, default=None, help="experiment TOML "
                        "(default paper/experiment.toml)")
    common.add_argument("--data-dir", type=Path, default=None,
                        help="folder with train.parquet/test.parquet (default: $IMDB_DIR, "
                        "else the Hugging Face hub)")
    common.add_argument("--settings", type=Path, default=None, metavar="FILE",
                        help="chosen settings laid over the config (the sweep's "
                        "sweep_settings.toml)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("data", parents=[common], help="summarise the encoded dataset")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_data)
    s = sub.add_parser("models", parents=[common], help="table of models and parameter counts")
    s.set_defaults(fn=cmd_models)
    s = sub.add_parser("train", parents=[common], help="train (or resume) model x seed runs")
    s.add_argument("--models", nargs="+")
    s.add_argument("--seeds", nargs="+", type=int)
    s.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    s.add_argument("--cluster", default=None, metavar="ADDRESS", help=CLUSTER_HELP)
    s.set_defaults(fn=cmd_train)
    s = sub.add_parser("build", parents=[common], help="train what is stale, analyse, render")
    s.add_argument("--render-only", action="store_true", help="only re-render the report")
    s.add_argument("--retrain", action="store_true", help="retrain (full profile) even when "
                   "published results of the same config exist")
    s.add_argument("--no-pdf", action="store_true")
    s.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    s.add_argument("--cluster", default=None, metavar="ADDRESS", help=CLUSTER_HELP)
    s.set_defaults(fn=cmd_build)
    for name, fn in (("predict", cmd_predict), ("evaluate", cmd_evaluate)):
        s = sub.add_parser(name, parents=[common], help=f"{name} with trained models")
        if name == "predict":
            s.add_argument("texts", nargs="*", help="review texts")
            s.add_argument("--model", required=True, metavar="MODEL[,MODEL...]",
                           help="a model, several separated by commas, or 'all' (the "
                           "profile's models, one column each)")
            s.add_argument("--seed", type=int, default=None, help="default: the profile's first")
            s.add_argument("--explain", action="store_true", help="per token: attention and "
                           "gradient importance, coloured")
        s.add_argument("--input", type=Path, required=name == "evaluate",
                       help="CSV/TSV/Parquet/JSON lines with a text column (and optionally a "
                       "label column)")
        s.add_argument("--json", action="store_true", help="output as JSON")
        s.add_argument("--column", default="text")
        s.add_argument("--label-column", default="label")
        s.add_argument("--batch-size", type=int, default=256)
        s.set_defaults(fn=fn)
    s = sub.add_parser("sweep", parents=[common], help="choose settings on validation (seed "
                       "0 runs, never test) -> build/sweep/sweep.json, sweep_settings.toml")
    s.add_argument("--sweep", type=Path, default=None, help="the declared sweep (default "
                   "paper/sweep_v3.toml)")
    s.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    s.add_argument("--out", type=Path, default=None, help="output folder (default build/sweep; "
                   "a build with --settings copies sweep.json into its results)")
    s.set_defaults(fn=cmd_sweep)
    s = sub.add_parser("carry", help="finished runs to and from build/carry/ (committed), for a "
                       "retrain that moves between machines")
    s.add_argument("action", choices=("pack", "unpack"))
    s.add_argument("--params", nargs="+", default=[], metavar="GLOB",
                   help="pack: also the selected parameters of runs whose folder matches")
    s.set_defaults(fn=cmd_carry)
    s = sub.add_parser("bench", parents=[common], help="JAX vs PyTorch training-step benchmark")
    s.add_argument("--quick", action="store_true", help="a run under a minute")
    s.set_defaults(fn=cmd_bench)
    s = sub.add_parser("schema", help="print the results schema (build/results/README.md)")
    s.add_argument("--check", type=Path, default=None, metavar="FOLDER",
                   help="instead, validate the results folder FOLDER against it")
    s.set_defaults(fn=cmd_schema)
    s = sub.add_parser("rerun-spread", help="how far a rerun on another machine moved the "
                       "published results -> paper/rerun_spread.toml")
    s.add_argument("rerun", type=Path, metavar="FOLDER", help="results folder of the rerun (same "
                   "config, one seed, trained on another machine)")
    s.add_argument("--published", type=Path, default=BUILD / "results")
    s.add_argument("--out", type=Path, default=None, help="default: paper/rerun_spread.toml")
    s.set_defaults(fn=cmd_rerun_spread)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        _data_dir(args)
        if args.command in ("predict", "evaluate"):  # train/build: the pipeline does it
            from attnstudy.cores import one_core_per_process

            one_core_per_process()  # numbers never depend on thread settings
        args.fn(args)
    except UserError as e:
        print(f"attnstudy: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attnstudy: interrupted; finished runs and checkpoints are kept, rerun to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
