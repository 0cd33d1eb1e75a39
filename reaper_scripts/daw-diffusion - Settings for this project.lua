-- @description daw-diffusion: Settings for this project
-- Part of daw-diffusion; needs daw-diffusion_lib.lua next to it (see docs/reaper.md).
local folder = ({reaper.get_action_context()})[2]:match("^(.*[/\\])") or ""
local DD = dofile(folder .. "daw-diffusion_lib.lua")
DD.settings(true)
