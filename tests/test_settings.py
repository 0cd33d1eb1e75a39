"""The settings table (`engine.settings`) is the one place a render setting is defined: the
engine's checks, the OSC keys, the `render` flags, the MIDI knobs, the docs and the REAPER
scripts' defaults all come from it."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pytest

from engine.errors import BadParameter, UnknownSampler
from engine.settings import SAMPLER_NAMES, SETTINGS, RenderSettings

ROOT = Path(__file__).parents[1]


def test_render_settings_has_one_field_per_row_with_the_rows_default():
    assert [f.name for f in fields(RenderSettings)] == list(SETTINGS)
    assert {f.name: f.default for f in fields(RenderSettings)} == {p.name: p.default for p in SETTINGS.values()}


def test_the_sampler_row_lists_the_engines_samplers():
    from engine.diffusion import SAMPLERS

    assert set(SAMPLER_NAMES) == set(SAMPLERS) == set(SETTINGS["sampler"].choices)


@pytest.mark.parametrize("name", [p.name for p in SETTINGS.values() if p.high is not None or p.low is not None])
def test_a_value_out_of_a_rows_range_is_refused_naming_the_setting_and_its_range(name):
    p = SETTINGS[name]
    for bad in filter(lambda v: v is not None, (p.high + 1 if p.high is not None else None,
                                                 p.low - 1 if p.low is not None else None, float("nan"), "7")):
        with pytest.raises(BadParameter, match=f"{name} must be .*{p.range()}"):
            RenderSettings(**{name: bad})
    if p.high_open:
        with pytest.raises(BadParameter):
            RenderSettings(**{name: p.high})


def test_text_settings_are_checked_by_their_row():
    with pytest.raises(UnknownSampler, match="euler"):
        RenderSettings(sampler="euler")
    with pytest.raises(BadParameter, match="magnitude must be one of auto"):
        RenderSettings(magnitude="loud")
    with pytest.raises(BadParameter, match="at most 500 characters"):
        RenderSettings(prompt="x" * 501)
    assert RenderSettings(steps=8.0).steps == 8 and isinstance(RenderSettings(steps=8.0).steps, int)


def test_every_osc_key_for_a_setting_comes_from_its_row():
    from bridge.addresses import ENGINE_NAMES, KEYS, parse
    from bridge.app import engine_params

    for p in SETTINGS.values():
        assert KEYS[p.key].kind is p.kind and KEYS[p.key].doc == p.describe()
        assert ENGINE_NAMES.get(p.key, p.key) == p.name
    call = parse("/diffusion/style", ["t", "/x.wav", 0.4, "eta", 0.5, "context", 3, "jump_length", 4, "resample", 2])
    assert engine_params(call.keys) == {"eta": 0.5, "context_seconds": 3.0, "jump_length": 4, "resample": 2}


def test_every_render_flag_for_a_setting_comes_from_its_row_with_its_default_and_unit_in_the_help():
    from bridge.render import add_command

    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers())
    render = next(iter(parser._subparsers._group_actions[0].choices.values()))  # type: ignore[union-attr]
    actions = {a.dest: a for a in render._actions}
    for p in SETTINGS.values():
        action = actions[p.name]
        assert action.option_strings == ["--" + p.key.replace("_", "-")] and action.type is p.kind
        assert action.default is None  # left out: the engine's (or the model's) default
        assert action.help == p.describe()
        if p.default not in (None, ""):
            assert f"default {p.default:g}" in action.help if isinstance(p.default, float) else str(p.default) in action.help
        if p.unit:
            assert f" {p.unit}" in action.help


def test_midi_knobs_span_the_rows_knob_ranges():
    from bridge.midi import PARAMETERS

    knobs = {p.name: (*p.knob, p.kind is int) for p in SETTINGS.values() if p.knob}
    assert knobs and all(PARAMETERS[name] == span for name, span in knobs.items())


def test_the_osc_docs_table_says_what_each_settings_row_says():
    from bridge.addresses import KEYS

    text = (ROOT / "docs" / "osc.md").read_text()
    block = text[text.index("| key |"):].split("\n\n")[0]
    rows = {cells[0].strip("`"): cells[1:] for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()[2:])}
    kinds = {int: "whole number", float: "number", str: "text"}
    for p in SETTINGS.values():
        assert rows[p.key] == [kinds[p.kind], KEYS[p.key].doc], p.key


def test_the_reaper_scripts_defaults_are_written_from_the_tables():
    from bridge.lua_defaults import lua_defaults

    assert (ROOT / "reaper_scripts" / "daw-diffusion_defaults.lua").read_text() == lua_defaults(), \
        "regenerate it: python -m bridge.lua_defaults > reaper_scripts/daw-diffusion_defaults.lua"
