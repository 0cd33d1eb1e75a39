-- The engine's defaults, written by `python -m bridge.lua_defaults` from its task and
-- settings tables (engine/tasks, engine/settings.py): do not edit, regenerate.
return {
  settings = {sampler = "dpmpp_2m", steps = 16, eta = 0, griffin_lim_momentum = 0.99, crossfade = 0.05, context_seconds = 8, guide = 0, jump_length = 10, resample = 3, magnitude = "auto", prompt = "", guidance = 3},
  tasks = {
    generate = {channels = 2, n_variations = 1},
    style_transfer = {strength = 0.5},
    vary = {strength = 0.3},
    interpolate = {ratio = 0.5, strength = 0.6},
    inpaint = {mode = "replace"},
    outpaint = {direction = "right", mode = "replace"},
  },
}
