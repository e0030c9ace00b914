"""The documentation: the configuration reference is generated from the config's own definitions (so it cannot
drift), the README stays short, and the MkDocs site's pages exist."""

import dataclasses
import importlib.util
import re
import sys
from pathlib import Path

from refine.io.config import SECTIONS

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"


def load_hook():
    """docs/hooks/config_reference.py, the module MkDocs runs at build time."""
    path = ROOT / "docs" / "hooks" / "config_reference.py"
    spec = importlib.util.spec_from_file_location("refine_docs_config_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_readme_is_at_most_250_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail to docs/"


def test_every_config_key_is_in_the_generated_reference():
    hook = load_hook()
    sections = {section.name: section for section in hook.read_sections()}
    assert list(sections) == list(SECTIONS), "the reference lists the sections in SECTIONS order"
    markdown = hook.reference_markdown()
    for name, cls in SECTIONS.items():
        declared = [f.name for f in dataclasses.fields(cls)]
        assert [key.name for key in sections[name].keys] == declared, f"[{name}] keys differ from {cls.__name__}"
        block = markdown.split(f"## `[{name}]`", 1)[1].split("\n## ", 1)[0]
        for key in declared:
            assert f"| `{key}` |" in block, f"[{name}] {key} is missing from the configuration reference"


def test_reference_shows_defaults_comments_and_ranges():
    hook = load_hook()
    keys = {(s.name, k.name): k for s in hook.read_sections() for k in s.keys}
    assert keys["model", "embedding"].default == '"default"'  # DEFAULT_MODEL, resolved to its value
    assert keys["customers", "outcomes"].default == "[]"  # field(default_factory=list)
    assert keys["limits", "max_feedback_rows"].default == "1000000"
    assert keys["feedback", "id"].type == "string, optional"
    assert "generated from row content" in keys["feedback", "id"].meaning  # the trailing comment
    assert "practical equivalence" in keys["proposals", "equivalence_margin"].meaning  # the comment above it
    assert keys["topics", "reduce_to"].allowed == "2 to 200"
    assert keys["model", "device"].meaning == ""  # no comment: type and default only


def test_hook_fills_the_configuration_page_and_catalogue():
    hook = load_hook()
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert hook.REFERENCE_MARKER in page and hook.TEMPLATE_MARKER in page
    filled = hook.on_page_markdown(page, None, None, None)
    assert "<!-- config" not in filled and "[llm]" in filled and "refine configuration." in filled
    troubleshooting = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    assert hook.CATALOGUE_MARKER in troubleshooting
    rows = hook.catalogue_rows()
    assert len(rows) >= 30 and ("config file missing", "config file not found", 2, "clear error") in rows
    assert ("merge: a segment under the minimum size", "too small to stand alone", 0, "handled") in rows
    assert hook.catalogue_counts()["silent wrong"] == hook.catalogue_counts()["data loss"] == 0


def test_every_nav_page_exists_and_every_page_is_in_the_nav():
    mkdocs = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r":\s+(\S+\.md)\s*$", mkdocs, flags=re.MULTILINE))
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert nav == pages
    assert "font: false" in mkdocs and "docs/hooks/config_reference.py" in mkdocs


def test_readme_links_to_docs_pages_that_exist():
    for target in re.findall(r"\]\((docs/[^)#]+)", README.read_text(encoding="utf-8")):
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
