"""The one `inkwell` command. Each group lives in its own module and only parses arguments;
the work happens in the library packages. Groups from above serving/ (the benchmarks) plug in
through the `inkwell.commands` entry point, so no arrow points up from here."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from serving.cli import (
    adapters_cmd,
    config_cmd,
    continue_cmd,
    engine_cmd,
    evaluate_cmd,
    init_cmd,
    lore_cmd,
    serve_cmd,
    style_cmd,
    train_cmd,
    up_cmd,
)

app = typer.Typer(
    name="inkwell",
    help="A local writing server: your voice (LoRA adapters), your world (lore), measured.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("init")(init_cmd.init)
app.command("up")(up_cmd.up)
app.command("serve")(serve_cmd.serve)
app.command("prepare")(train_cmd.prepare)
app.command("train")(train_cmd.train)
app.command("merge")(train_cmd.merge)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("gate")(evaluate_cmd.gate)
app.add_typer(style_cmd.app, name="style", help="Author profiles and the 0-100 style score.")
app.add_typer(lore_cmd.app, name="lore", help="Index, search and explain the story bible.")
app.add_typer(engine_cmd.app, name="engine", help="Start, stop and inspect the vLLM engine.")
app.add_typer(adapters_cmd.app, name="adapters", help="The adapter registry and hot-loading.")
app.add_typer(continue_cmd.app, name="continue", help="Continue.dev configuration.")
app.add_typer(config_cmd.app, name="config", help="The defaults every workspace starts from.")


for plugin in entry_points(group="inkwell.commands"):
    group = plugin.load()
    app.add_typer(group, name=plugin.name, help=group.info.help)


def main() -> None:
    app()
