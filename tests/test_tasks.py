"""The task table is the one home of each task: its module agrees with it, its checks name what
is wrong, and the command line and the service derive from it."""

import inspect
import subprocess
import sys

import pytest

from engine.diffusion import INPAINT_MODES
from engine.errors import BadParameter, UnknownTask
from engine.tasks import NAMES, REQUIRED, TASKS, task_named


@pytest.mark.parametrize("task", TASKS.values(), ids=lambda t: t.name)
def test_each_module_takes_exactly_what_the_table_lists(task):
    names = list(inspect.signature(task.implementation()).parameters)
    assert names == ["pipeline", "job", *task.inputs, *(p.name for p in task.params)]


@pytest.mark.parametrize("task", TASKS.values(), ids=lambda t: t.name)
def test_each_example_passes_the_checks(task):
    checked = task.check(dict(task.example))
    assert set(checked) == {p.name for p in task.params}
    assert all(checked[k] == v for k, v in task.example)


def test_checks_name_the_parameter_and_its_range():
    interpolate = TASKS["interpolate"]
    cases = [({"ratio": 2.0}, "ratio must be a number from 0 to 1, not 2.0"),
             ({"strength": 0.0}, "strength must be a number above 0 and up to 1"),
             ({"ratio": "half"}, "ratio must be a number"),
             ({"ratio": float("nan")}, "ratio must be a number"),
             ({"ratio": True}, "ratio must be a number"),
             ({"colour": "blue"}, "interpolate takes no colour")]
    for params, words in cases:
        with pytest.raises(BadParameter, match=words):
            interpolate.check(params)
    with pytest.raises(BadParameter, match="channels must be a whole number from 1 to 16, not 2.5"):
        TASKS["generate"].check({"channels": 2.5})
    with pytest.raises(BadParameter, match="inpaint needs regions"):
        TASKS["inpaint"].check({})
    with pytest.raises(BadParameter, match="mode must be one of replace, repaint"):
        TASKS["inpaint"].check({"regions": [[0, 1]], "mode": "magic"})


def test_defaults_fill_what_is_not_given():
    assert TASKS["interpolate"].check({}) == {"ratio": 0.5, "strength": 0.6}
    assert TASKS["generate"].check({"seconds": 2})["channels"] == 2
    assert TASKS["generate"].check({"seconds": 2, "channels": None})["channels"] == 2  # None: not given
    assert all(p.default is not REQUIRED or p.kind is list for t in TASKS.values() for p in t.params)


def test_aliases_and_unknown_names():
    assert task_named("extend").name == "outpaint" and task_named("style").name == "style_transfer"
    assert set(NAMES) >= set(TASKS)
    for bad in ("paint_it_black", None, 3):
        with pytest.raises(UnknownTask, match="choose one of generate"):
            task_named(bad)


def test_the_inpaint_modes_are_the_samplers():
    assert TASKS["inpaint"].param("mode").choices == INPAINT_MODES == TASKS["outpaint"].param("mode").choices


def test_the_render_command_has_a_flag_for_every_parameter():
    import argparse

    from bridge.render import add_command

    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers())
    render = next(a for a in parser._subparsers._group_actions[0].choices.values())
    flags = {option for action in render._actions for option in action.option_strings}
    for task in TASKS.values():
        for p in task.params:
            assert "--" + p.key.replace("_", "-") in flags


def test_the_table_and_the_bridge_load_without_torch():
    code = ("import sys, engine.tasks, engine.settings, bridge.lua_defaults, bridge.render, bridge.cli; "
            "bridge.cli.build_parser(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_engine_package_imports_nothing_from_the_bridge():
    from pathlib import Path

    engine = Path(__file__).parent.parent / "engine"
    offenders = [str(p) for p in engine.rglob("*.py") if "import bridge" in p.read_text()
                 or "from bridge" in p.read_text()]
    assert offenders == []
