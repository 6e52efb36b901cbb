# attnstudy: `just build [smoke|quick|full]` makes the report; `just test` runs the tests.
set shell := ["bash", "-euo", "pipefail", "-c"]

py := ".venv/bin/python"

# Build the report (trains only what is missing or stale) for a profile: smoke, quick or full.
# The full profile's published results stay frozen while the experiment config is unchanged.
build profile="full" *args: setup
    {{py}} -m attnstudy build --profile {{profile}} {{args}}

# Retrain a profile even where published results of the same config exist, then render.
retrain profile="full": setup
    {{py}} -m attnstudy build --profile {{profile}} --retrain

# The sweep trains seed-0 runs and chooses settings on validation only; the build trains every
# model x seed of paper/experiment_v3.toml with them, evaluates on test and renders. Both reuse
# finished runs from the run cache, so an interrupted run resumes; runs carried from another
# machine (build/carry/, `attnstudy carry pack`) are unpacked into it first.
# Version 3 in one command: the validation sweep, then the retrain and the report.
v3 *args: setup
    {{py}} -m attnstudy carry unpack
    {{py}} -m attnstudy sweep --config paper/experiment_v3.toml {{args}}
    {{py}} -m attnstudy build --config paper/experiment_v3.toml --settings build/sweep/sweep_settings.toml {{args}}

# Create .venv and install the package with pinned dependencies (skipped when up to date).
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-12)"
    [ -f "$stamp" ] && exit 0
    [ -x {{py}} ] || python3 -m venv .venv
    {{py}} -m pip install -q --upgrade pip
    {{py}} -m pip install -q -e .
    touch "$stamp"

# Install the dev extra too (pytest, ruff, pypdfium2, torch==2.13.0 for the reference twins).
setup-dev: setup
    #!/usr/bin/env bash
    set -euo pipefail
    stamp=".venv/.installed-dev-$(sha256sum pyproject.toml | cut -c1-12)"
    [ -f "$stamp" ] && exit 0
    {{py}} -m pip install -q -e '.[dev]'
    touch "$stamp"

# Run the test suite (includes an end-to-end smoke build) in two worker processes, one per core
# (pytest-xdist); the tests that share a costly fixture run in one worker (tests/conftest.py).
# `just test -n0` runs them in this process.
test *args: setup-dev
    {{py}} -m pytest -q -n 2 --dist loadgroup --no-loadscope-reorder {{args}}

# JAX vs PyTorch training-step benchmark -> build/results/bench.json (pass --quick for a shorter run).
# Huge-page malloc for both frameworks: fresh large buffers page-fault slowly on these VMs
# (the bench processes, like training, also keep freed memory for reuse: attnstudy/heap.py).
bench *args: setup-dev
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 {{py}} -m attnstudy bench {{args}}

# Re-render the report from build/results without training.
report: setup
    {{py}} -m attnstudy build --render-only

lint: setup-dev
    {{py}} -m ruff check code tests

# Remove caches (checkpoints, encoded data, logs); published results stay.
clean:
    rm -rf build/cache build/logs .pytest_cache .ruff_cache
