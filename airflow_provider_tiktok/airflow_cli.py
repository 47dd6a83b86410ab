"""``airflow tiktok link|list|revoke``: the ``airflow-tiktok`` commands as Airflow provider CLI commands.

Registered through the provider info's ``cli`` list (Airflow 3.3 loads it into ``airflow``'s parser). The commands'
arguments are read from ``airflow-tiktok``'s own parser, so both stay one definition: Airflow's parser only collects
the options (every one optional, as plain strings or flags) and :func:`_run` hands them back, as a command line, to
``airflow_provider_tiktok.link.cli.main``, which validates them exactly as ``airflow-tiktok`` does.
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand


def get_cli_commands() -> list[GroupCommand]:
    from airflow.cli.cli_config import ActionCommand, GroupCommand

    from airflow_provider_tiktok.link.cli import build_parser

    commands: list[ActionCommand] = []
    for name, (parser, summary) in _subcommands(build_parser()).items():
        options = [action for action in parser._actions if action.option_strings and action.help != argparse.SUPPRESS]
        options = [action for action in options if not isinstance(action, argparse._HelpAction)]
        commands.append(
            ActionCommand(
                name=name,
                help=summary,
                description=f"{summary}. Same as `airflow-tiktok {name}`.",
                func=partial(_run, name, options),
                args=tuple(_to_arg(action) for action in options),
            )
        )
    return [GroupCommand(name="tiktok", help="Link TikTok accounts to Airflow connections", subcommands=commands)]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """{name: (subparser, one-line help)}; argparse has no public way to list them."""
    [sub] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    summaries = {choice.dest: choice.help or "" for choice in sub._choices_actions}
    return {name: (subparser, summaries.get(name, "")) for name, subparser in sub.choices.items()}


def _dest(action: argparse.Action) -> str:
    return "tiktok_" + action.option_strings[-1].lstrip("-").replace("-", "_")


def _is_flag(action: argparse.Action) -> bool:
    return action.nargs == 0  # store_true / store_const / ...: takes no value


def _to_arg(action: argparse.Action) -> Arg:
    from airflow.cli.cli_config import Arg

    help_text = (action.help or "").replace("%(default)s", str(action.default))
    if _is_flag(action):
        return Arg(tuple(action.option_strings), help=help_text, action="store_true", dest=_dest(action))
    extra: dict[str, object] = {"choices": action.choices} if action.choices else {}
    metavar = action.metavar or action.option_strings[-1].lstrip("-").upper().replace("-", "_")
    return Arg(tuple(action.option_strings), help=help_text, default=None, dest=_dest(action), metavar=metavar, **extra)


def _argv(options: list[argparse.Action], args: argparse.Namespace) -> list[str]:
    argv: list[str] = []
    for action in options:
        value = getattr(args, _dest(action), None)
        if _is_flag(action) and value:
            argv.append(action.option_strings[-1])
        elif not _is_flag(action) and value is not None:
            argv += [action.option_strings[-1], str(value)]
    return argv


def _run(name: str, options: list[argparse.Action], args: argparse.Namespace) -> None:
    from airflow_provider_tiktok.link.cli import main

    code = main([name, *_argv(options, args)])
    if code:
        raise SystemExit(code)
