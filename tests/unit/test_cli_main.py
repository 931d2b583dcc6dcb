import argparse
import importlib

import pytest

from vessel.cli.main import COMMAND_MODULES, _available_groups, _command_in, build_parser

pytestmark = pytest.mark.unit


def test_command_table_matches_what_modules_register():
    registered = {}
    for group in _available_groups():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"vessel.cli.{group}").register(sub)
        for name in sub.choices:
            registered[name] = group
    assert registered == COMMAND_MODULES


@pytest.mark.parametrize("argv, command", [
    (["ps", "-a"], "ps"), (["--root", "/x", "run", "busybox"], "run"), (["--debug", "images"], "images"),
    (["--help"], None), ([], None),
])
def test_command_in(argv, command):
    assert _command_in(argv) == command


def test_only_the_needed_group_is_built():
    parser = build_parser(["ps"])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "ps" in sub.choices and "sim" not in sub.choices
    full = build_parser(["--help"])
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert {"ps", "sim", "images", "network"} <= set(sub.choices)
