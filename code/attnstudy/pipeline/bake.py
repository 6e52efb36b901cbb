"""The published v3 experiment: paper/experiment_v3.toml with the sweep's chosen settings written
into its full profile, to become paper/experiment.toml when the v3 results are published.

A build with `--config paper/experiment_v3.toml --settings build/sweep/sweep_settings.toml` and a
build of the baked file resolve to the same config for every profile (`check`), so the results
the first writes are the published results of the second (`config.same_experiment`): a fresh
clone's `just build` finds them frozen and renders them without training.

    python -m attnstudy.pipeline.bake paper/experiment_v3.toml build/sweep/sweep_settings.toml \
        > paper/experiment.toml
"""

from __future__ import annotations

import sys
from pathlib import Path

from attnstudy.config import PROFILES, load_config
from attnstudy.errors import UserError

HEADER = """\
# The study's one experiment config (version 3). Every run, table and figure derives from it.
# Profiles override the base values: `smoke` (tests/CI, seconds), `quick` (minutes), `full` (the
# paper). The run cache is keyed by a hash of the resolved config, so editing a value retrains
# what it affects. The full profile's review length, learning rates, embedding dropouts and
# seeds at the end of this file were chosen on validation only by the v3 sweep
# (paper/sweep_v3.toml; its record: build/results/sweep.json) and written here by
# attnstudy.pipeline.bake from {experiment} and {settings}.
"""


def baked(experiment: Path | str, settings: Path | str) -> str:
    """The text of `experiment` (its leading comment block replaced by HEADER) with the tables of
    `settings` (the sweep's sweep_settings.toml, without its leading comments) appended."""
    experiment, settings = Path(experiment), Path(settings)
    lines = experiment.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line and not line.startswith("#")), None)
    if start is None:
        raise UserError(f"{experiment}: no config tables")
    head = HEADER.format(experiment=experiment.name, settings=settings.name)
    # The settings file's own header speaks of that file ("beside this file"); HEADER says it here.
    tables = settings.read_text(encoding="utf-8").splitlines()
    first = next((i for i, line in enumerate(tables) if line and not line.startswith("#")), 0)
    return (head + "\n" + "\n".join(lines[start:]).rstrip("\n") + "\n\n"
            + "# The v3 sweep's choices (validation only).\n" + "\n".join(tables[first:]) + "\n")


def check(experiment: Path | str, settings: Path | str, result: Path | str) -> None:
    """UserError unless `result` resolves, for every profile, to the config `experiment` does
    with `settings` laid over its full profile."""
    for profile in PROFILES:
        want = load_config(profile, experiment, settings=settings if profile == "full" else None)
        if load_config(profile, result) != want:
            raise UserError(f"{result}: profile {profile!r} differs from {experiment} with "
                            f"{settings}")


def main(argv: list[str]) -> int:
    import tempfile

    if len(argv) != 2:
        print("usage: python -m attnstudy.pipeline.bake EXPERIMENT SETTINGS > OUT",
              file=sys.stderr)
        return 2
    try:
        text = baked(*argv)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "experiment.toml"
            out.write_text(text, encoding="utf-8")
            check(argv[0], argv[1], out)
    except (UserError, OSError) as e:
        print(f"attnstudy: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
