"""Packaging hook, nothing else (the project's metadata is in pyproject.toml).

The prompt templates have one copy, prompts/ at the top of the repository, where a source checkout
or an editable install reads them (refine.report.llm.prompt_folders). A built wheel has no repository
around it, so this build step copies them into the package as refine/prompts/.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROMPTS = Path(__file__).resolve().parent / "prompts"


class BuildWithPrompts(build_py):
    """build_py, then prompts/*.j2 into the built package as refine/prompts/."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "refine" / "prompts"
        target.mkdir(parents=True, exist_ok=True)
        for template in sorted(PROMPTS.glob("*.j2")):
            shutil.copy2(template, target / template.name)


setup(cmdclass={"build_py": BuildWithPrompts})
