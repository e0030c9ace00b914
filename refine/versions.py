"""The one version lookup: refine's, Python's and the installed libraries' versions."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata

from refine import __version__

# the libraries whose version can change what a run computes; part of run.json and every stage key
RUN_PACKAGES = (
    "torch",
    "transformers",
    "sentence-transformers",
    "hdbscan",
    "scikit-learn",
    "pandas",
    "numpy",
    "scipy",
)
ABSENT = "absent"


def package_versions(packages: Iterable[str]) -> dict[str, str]:
    """{package: installed version, or "absent"} for each distribution name."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = ABSENT
    return out


def versions(packages: Iterable[str] = RUN_PACKAGES) -> dict[str, str]:
    """refine's and Python's versions and those of `packages`: what run.json records and stage keys hash."""
    return {"refine": __version__, "python": platform.python_version(), **package_versions(packages)}
