"""`refine themes ...`: turn a run's themes into a codeframe the team owns.

A thin Typer layer: parse options, call refine.text.themes.codeframe, print.
Mounted by refine/cli/main.py as `app.add_typer(themes_app, name="themes")`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from refine.cli.common import APP_SETTINGS, lazy_module
from refine.errors import RefineError

# the library, loaded when a command first uses it (so `refine --help` stays fast)
if TYPE_CHECKING:
    import refine.io.outputs as io_outputs
    import refine.io.runs as io_runs
    import refine.text.themes as themes
else:
    io_outputs = lazy_module("refine.io.outputs")
    io_runs = lazy_module("refine.io.runs")
    themes = lazy_module("refine.text.themes")  # the package (its __init__ loads the stage): codeframe_toml

themes_app = typer.Typer(
    help="Themes: write a run's themes as a codeframe draft to edit and reuse.", no_args_is_help=True, **APP_SETTINGS
)


def suggest_codeframe(run: Path, out: Path, *, force: bool = False, examples: int = 3) -> dict[str, int]:
    """Write the run's themes (codeframe ones and discovered candidates) as a TOML codeframe draft.

    Every theme keeps its id, so a theme you rename, move to another parent or merge (list the
    old ids under `merges`) keeps its history in the next cycle. Returns counts for the message.
    """
    if not run.is_dir() or not (run / "topics.json").exists():
        raise RefineError("--run must be the folder of a finished refine run (with topics.json)", where=str(run))
    io_outputs.check_output_file(
        out, force=force, inputs={f"the run's {n}": run / n for n in ("topics.json", "run.json")}, what="draft"
    )
    doc = io_runs.read_json(run / "topics.json", "run's topics")
    topics = doc.get("topics", []) if isinstance(doc, dict) else []
    parents = {p["id"]: p for p in (doc.get("parents") or [])} if isinstance(doc, dict) else {}
    entries = []
    for t in topics:
        parent = parents.get(t.get("parent_id"))
        # a parent of one child that only repeats the child's name is no parent to write down
        parent_name = (
            parent["label"]
            if parent and (len(parent.get("children", [])) > 1 or parent["label"] != t.get("label"))
            else None
        )
        entries.append(
            {
                "name": t.get("label", ""),
                "id": t.get("id"),
                "parent": parent_name,
                "examples": list(t.get("quotes", []))[:examples],
                "status": "candidate" if t.get("candidate") or t.get("source", "discovered") == "discovered" else "",
                "size": t.get("mentions", t.get("size", 0)),
            }
        )
    entries.sort(key=lambda e: (e["parent"] or e["name"], e["status"] == "candidate", -int(e["size"] or 0)))
    header = (
        f"codeframe draft from {run}\n"
        "Edit freely: rename a theme (keep its id), move it (change parent), merge two (keep one, list\n"
        "the other's id under merges = [..]), delete what you do not track. Then set\n"
        '[themes] codeframe = "<this file>" in your refine config for the next cycle.'
    )
    io_runs.write_text(out, themes.codeframe_toml(entries, header=header))
    return {"themes": len(entries), "candidates": sum(e["status"] == "candidate" for e in entries)}


@themes_app.command("suggest")
def suggest(
    run: Path = typer.Option(..., "--run", help="A finished run folder."),
    out: Path = typer.Option(Path("codeframe-draft.toml"), "--out", "-o", help="Where to write the draft (TOML)."),
    force: bool = typer.Option(False, "--force", help="Replace the draft file if it exists."),
) -> None:
    """Write the run's themes as a codeframe draft (TOML) to edit and use as [themes] codeframe."""
    try:
        counts = suggest_codeframe(run, out, force=force)
    except RefineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {out}: {counts['themes']} themes, {counts['candidates']} of them candidates to review")
