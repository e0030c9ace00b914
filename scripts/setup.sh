#!/usr/bin/env bash
# Set up refine in ./.venv: torch 2.13.0 (CPU build) first, then refine with its test extras and every optional part.
# Safe to run again: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# The CPU build first: a plain `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test,bench,dev,docs,onnx,dask,llm]"  # every optional part: the whole suite and .ci/run run
# The A/B reference (tests/test_experiment_reference.py): gbstats pins numpy<2 / pandas<2 in its metadata but runs on
# the versions above, so it goes in without its dependency pins (see pyproject.toml).
.venv/bin/python -m pip install --quiet --no-deps "gbstats==0.8.0"
# Headless Chromium lets the tests render the HTML report in a real browser (skipped without it).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "note: could not install chromium; the browser test will be skipped" >&2
fi
echo "refine is set up in .venv ($(.venv/bin/refine --help >/dev/null && echo ok))" >&2
