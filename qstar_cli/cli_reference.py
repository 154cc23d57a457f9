"""The `qstar` command line as click objects, for the documentation's command pages.

`qstar_cli.cli` builds the command line with Typer; the docs (`mkdocs.yml`, mkdocs-click) read
click commands. `typer.main.get_command` gives the command group that the `qstar` script runs;
recent Typer releases build it on their own copy of click, which mkdocs-click does not recognise,
so `as_click` copies it, parameter by parameter (names, help, type, default, required, flags),
into plain click objects. Nothing is written by hand: each command page lists the options the CLI
has, and cannot drift from it. One name per command, for the pages' `:command:` lines:

    ::: mkdocs-click
        :module: qstar_cli.cli_reference
        :command: eval_command
        :prog_name: qstar eval

Needs `click` (installed with the docs extra: `pip install -e '.[docs]'`). Importing this runs
no stage and loads no model: it is as light as `qstar --help`.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import click
import typer.main

from qstar_cli.cli import app
from qstar_cli.config.sections import STAGES

_PIPE = "&#x7C;"  # a literal "|" would end a markdown table cell


class _Shown:
    """A default as the pages show it, where the CLI's own is None."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


# a stage's flag left unset: the config decides (recipe, --set, the section's default; --dry-run prints it)
FROM_CONFIG = _Shown("(config)")
NOT_GIVEN = _Shown("–")  # any other option left out
NOT_CONFIG = ("recipe", "set_", "dry_run", "api_key")  # options of a stage (or serve) that are not config keys


def _annotation(param: Any) -> Any:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if typing.get_origin(annotation) in (list, tuple):
        annotation = typing.get_args(annotation)[0]
    return annotation


def _click_type(param: Any) -> click.ParamType:
    """The parameter's type as a click type (whose `name` the pages show)."""
    own = getattr(param, "type", None)
    if isinstance(own, click.ParamType):
        return own
    annotation = _annotation(param)
    if annotation is bool:
        return click.BOOL
    if annotation is int:
        return click.INT
    if annotation is float:
        return click.FLOAT
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return click.Path(path_type=Path)
    return click.STRING


def _help(param: Any) -> str:
    return (getattr(param, "help", None) or "").replace("|", _PIPE)


def _option(param: Any, stage: bool) -> click.Option:
    opts = list(param.opts)
    if param.secondary_opts:  # --trees/--no-trees
        opts = [f"{opts[0]}/{'/'.join(param.secondary_opts)}", *opts[1:]]
    default = param.default
    if default is None and not param.required:
        default = FROM_CONFIG if stage and param.name not in NOT_CONFIG else NOT_GIVEN
    kwargs: dict[str, Any] = dict(
        help=_help(param),
        default=default,
        required=param.required,
        multiple=param.multiple,
        hidden=getattr(param, "hidden", False),
    )
    if getattr(param, "is_flag", False):
        kwargs["is_flag"] = True
    else:
        kwargs["type"] = _click_type(param)
    return click.Option([*opts, param.name], **kwargs)


def _argument(param: Any) -> click.Argument:
    return click.Argument([param.name], nargs=param.nargs, required=param.required, type=_click_type(param))


def _arguments_table(params: list[Any]) -> str:
    """Markdown for the positional arguments (mkdocs-click lists options only)."""
    rows = []
    for param in params:
        name = (param.metavar or param.name).upper() + ("..." if param.nargs == -1 else "")
        required = "required" if param.required else "optional"
        rows.append(f"| `{name}` | {_click_type(param).name} | {_help(param)} | {required} |")
    return "\n".join(
        ["**Arguments:**", "", "| Name | Type | Description | |", "| ---- | ---- | ----------- | - |", *rows]
    )


def as_click(command: Any) -> click.Command:
    """A click copy of a Typer command or group (recursively), for mkdocs-click."""
    stage = command.name in {s.command for s in STAGES.values()} | {"serve"}  # its flags set config keys
    arguments = [p for p in command.params if not getattr(p, "opts", [""])[0].startswith("-")]
    params = [_argument(p) if p in arguments else _option(p, stage) for p in command.params]
    help_text = command.help or ""
    if arguments:
        help_text = f"{help_text}\n\n{_arguments_table(arguments)}"
    # --help is left out of the tables: every command has it
    common = dict(
        name=command.name,
        params=params,
        help=help_text or None,
        hidden=getattr(command, "hidden", False),
        add_help_option=False,
    )
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        return click.Group(commands={name: as_click(sub) for name, sub in subcommands.items()}, **common)
    return click.Command(**common)


qstar = as_click(typer.main.get_command(app))
_commands = qstar.commands  # type: ignore[attr-defined]

collect_rollouts = _commands["collect-rollouts"]
label = _commands["label"]
train_q = _commands["train-q"]
eval_command = _commands["eval"]
report = _commands["report"]
repro = _commands["repro"]
run_recipes = _commands["run"]
merge = _commands["merge"]
version = _commands["version"]
serve = _commands["serve"]
launch = _commands["launch"]
launch_slurm = launch.commands["slurm"]  # type: ignore[attr-defined]

__all__ = [
    "as_click",
    "collect_rollouts",
    "eval_command",
    "label",
    "launch",
    "launch_slurm",
    "merge",
    "qstar",
    "report",
    "repro",
    "run_recipes",
    "serve",
    "train_q",
    "version",
]
