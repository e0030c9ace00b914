"""The scripts that build refine's packaged models (refine/models/), and their shared helper `training._common`.

Run a script from the repository root: `python training/<script>.py --help`. The package exists so that
benchmarks and tests can import the shared helper (`from training._common import load_sources`).
"""
