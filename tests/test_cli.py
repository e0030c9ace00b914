"""CLI surface: every command has help text and appears in the README; errors are one line."""

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from refine.cli.main import app

README = (Path(__file__).parent.parent / "README.md").read_text()
runner = CliRunner()


def is_group(command) -> bool:
    return hasattr(command, "commands")


def walk(command, prefix: str = "refine"):
    yield prefix, command
    if is_group(command):
        for name, sub in command.commands.items():
            yield from walk(sub, f"{prefix} {name}")


COMMANDS = list(walk(typer.main.get_command(app)))


def readme_command_table() -> dict[str, str]:
    """The README's "## Commands" table: {"refine run": "what it does", ...}."""
    section = README.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(refine [^`]+)` \| (.*?) \|$", section, flags=re.MULTILINE)
    return dict(rows)


def test_every_command_is_listed():
    names = {name for name, _ in COMMANDS}
    assert {
        "refine run",
        "refine demo",
        "refine init",
        "refine sentiment train",
        "refine ab plan",
        "refine ab analyze",
    } <= names


@pytest.mark.parametrize("name, command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_help_and_is_in_readme(name, command):
    """Read from the app itself, so a command added later is checked without touching this test."""
    assert (command.help or "").strip(), f"{name} has no help text"
    for param in command.params:
        if getattr(param, "param_type_name", "") in ("option", "argument") and param.name != "help":
            assert (getattr(param, "help", None) or "").strip(), f"{name} {param.name} has no help text"
    if name != "refine" and not is_group(command):
        assert readme_command_table().get(name, "").strip(), f"{name} is missing from README.md's command table"
    result = runner.invoke(app, name.split()[1:] + ["--help"])
    assert result.exit_code == 0


def test_readme_command_table_lists_only_real_commands():
    table = readme_command_table()
    assert len(table) >= 9, "the README's command table was not found"
    leaves = {name for name, command in COMMANDS if name != "refine" and not is_group(command)}
    assert set(table) <= leaves, f"README lists commands refine does not have: {sorted(set(table) - leaves)}"


def test_missing_config_is_one_line_error(tmp_path):
    result = runner.invoke(
        app,
        [
            "run",
            "--feedback",
            "f.csv",
            "--customers",
            "c.csv",
            "--config",
            str(tmp_path / "absent.toml"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "absent.toml" in lines[0]
    assert "Traceback" not in result.output


def test_init_writes_template_and_refuses_overwrite(tmp_path):
    target = tmp_path / "refine.toml"
    assert runner.invoke(app, ["init", str(target)]).exit_code == 0
    assert "[proposals]" in target.read_text()
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 2 and "exists" in again.output
