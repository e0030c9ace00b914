"""CLI surface: every command has help text and appears in the README; errors are one line."""

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from refine.cli import app

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
    assert (command.help or "").strip(), f"{name} has no help text"
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and param.name != "help":
            assert (param.help or "").strip(), f"{name} {param.opts[0]} has no help text"
    if name != "refine" and not is_group(command):
        assert f"`{name}`" in README, f"{name} is missing from the README"
    result = runner.invoke(app, name.split()[1:] + ["--help"])
    assert result.exit_code == 0


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
