"""The REAPER scripts' defaults, written from the engine's task and settings tables as a Lua file
(`reaper_scripts/daw-diffusion_defaults.lua`), so that the scripts start where the engine does.
A test keeps the committed file equal to what this writes:

    python -m bridge.lua_defaults > "reaper_scripts/daw-diffusion_defaults.lua"
"""

from __future__ import annotations

from typing import Any

from engine.params import REQUIRED
from engine.settings import SETTINGS
from engine.tasks import TASKS


def lua_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{value:g}" if isinstance(value, float) else str(value)


def lua_defaults() -> str:
    def entries(params: Any) -> str:
        return ", ".join(f"{p.name} = {lua_value(p.default)}" for p in params
                         if p.default not in (None, REQUIRED) and p.kind is not list)

    lines = ["-- The engine's defaults, written by `python -m bridge.lua_defaults` from its task and",
             "-- settings tables (engine/tasks, engine/settings.py): do not edit, regenerate.",
             "return {",
             f"  settings = {{{entries(SETTINGS.values())}}},",
             "  tasks = {"]
    lines += [f"    {task.name} = {{{entries(task.params)}}}," for task in TASKS.values()]
    return "\n".join([*lines, "  },", "}", ""])


if __name__ == "__main__":
    print(lua_defaults(), end="")
