"""CLI surface: every command has help text and appears in the README; errors are one line."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import refine
from refine.cli.common import lazy_module
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


# ---- conventions: --version, -h, completion, help text printed as written -----------------------------------------


def _help(name: str, flag: str = "--help") -> str:
    result = runner.invoke(app, name.split()[1:] + [flag])
    assert result.exit_code == 0, result.output
    return result.output


def test_version_prints_the_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"refine {refine.__version__}"


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_dash_h_is_help(name):
    assert _help(name, "-h") == _help(name, "--help")


def test_completion_options_are_offered():
    root = typer.main.get_command(app)
    options = {opt for param in root.params for opt in getattr(param, "opts", [])}
    assert {"--install-completion", "--show-completion", "--version"} <= options
    assert "--show-completion" in _help("refine")


@pytest.mark.parametrize("name, command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_help_text_is_printed_as_written(name, command):
    """Every `[section]` of a help string survives (rich markup once ate them: "only its  section is read"), a
    flag shows no `<bool>`, and an option that takes a value shows its metavar."""
    shown = " ".join(_help(name).split())
    texts = [command.help or ""] + [getattr(param, "help", None) or "" for param in command.params]
    for section in sorted({s for text in texts for s in re.findall(r"\[[a-z_]+\]", text)}):
        assert section in shown, f"{name} --help lost {section}"
    assert "<bool>" not in shown, f"{name} --help shows <bool> on a flag"
    for sub in command.commands.values() if is_group(command) else ():  # each summary whole, not cut with "..."
        assert " ".join(sub.get_short_help_str(limit=sys.maxsize).split()) in shown
    for param in command.params:
        if isinstance(param, typer.core.TyperOption) and not param.is_flag:
            option = max(param.opts, key=len)
            assert re.search(rf"{re.escape(option)} <\w+", shown), f"{name} {option} has no metavar"


def test_help_loads_no_heavy_library():
    """`refine --help` stays fast: the library is declared with lazy_module, so pandas, numpy and torch never load."""
    root = Path(__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "refine", "--help"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "refine.cli.main" in loaded
    assert not {name.split(".")[0] for name in loaded} & {"pandas", "numpy", "torch"}


def test_lazy_module_runs_the_code_on_first_use(tmp_path, monkeypatch):
    (tmp_path / "lazy_probe.py").write_text("import os\nos.environ['REFINE_LAZY_PROBE'] = 'ran'\nVALUE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("REFINE_LAZY_PROBE", raising=False)
    monkeypatch.delitem(sys.modules, "lazy_probe", raising=False)
    module = lazy_module("lazy_probe")
    assert sys.modules["lazy_probe"] is module and "REFINE_LAZY_PROBE" not in os.environ  # created, not run
    assert module.VALUE == 3 and os.environ["REFINE_LAZY_PROBE"] == "ran"
    import lazy_probe

    assert lazy_probe is module
    sys.modules.pop("lazy_probe")
    assert lazy_module("os") is os  # an imported module is returned as is
    with pytest.raises(ModuleNotFoundError):
        lazy_module("refine.no_such_module")


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_help_shows_no_template_braces(name):
    """Typer 0.29 writes a required argument as `{proposal}` in the usage line, which reads as a template left
    unfilled: refine's commands name arguments as click does (PROPOSAL, [PATH])."""
    shown = _help(name)
    assert "{" not in shown and "}" not in shown, shown.splitlines()[0]


def test_usage_names_the_arguments_in_capitals():
    assert _help("refine accept").splitlines()[0].endswith("accept [OPTIONS] PROPOSAL")
    assert _help("refine init").splitlines()[0].endswith("init [OPTIONS] [PATH]")
    missing = runner.invoke(app, ["reject", "--run", "x", "--reason", "y"])
    assert missing.exit_code == 2 and "Missing argument" in missing.output and "PROPOSAL" in missing.output
