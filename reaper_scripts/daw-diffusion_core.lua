-- daw-diffusion for any host: what a DAW's front end does that is not about its timeline.
--
-- Settings (the engine's defaults come from daw-diffusion_defaults.lua, written from its
-- tables), the CLI's arguments, starting `daw-diffusion render` in the background and polling its
-- files, reading its one JSON line, telling the user what went wrong. The host (REAPER:
-- daw-diffusion_lib.lua; a test: a table of its own) gives what only it can:
--   load(key) -> string ("" when unset: the project's if it has one, else the user's),
--   store(key, value, persist, project) (project: this project only), message(text), os() -> name,
--   make_dir(path), run_detached(command) (Windows), now() -> seconds, defer(fn),
--   out_dir() -> folder for results, show(jobs) (their progress; may do nothing).
-- Usage: local DD = dofile(folder .. "daw-diffusion_core.lua")(host)

return function(host)
local DD = {host = host}
-- the engine's own defaults (written from its tables; next to this file)
DD.FOLDER = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or ""
DD.ENGINE = dofile(DD.FOLDER .. "daw-diffusion_defaults.lua")

-- Settings -------------------------------------------------------------------------------------

DD.SETTINGS = {  -- name, caption, default (kept by the host; "" = the engine's default for each task)
  {"strength", "Strength (0-1; empty = each task's own)", ""},
  {"steps", "Steps (0 = engine default)", "0"},
  {"seed", "Seed (-1 = random)", "-1"},
  {"guidance", "Prompt guidance", tostring(DD.ENGINE.settings.guidance)},
  {"crossfade", "Seam crossfade (s)", tostring(DD.ENGINE.settings.crossfade)},
  {"guide", "Guide (0 copy-1 model; -1 default)", "-1"},
  {"extend", "Extend by (s)", "4"},
  {"extend_bars", "Extend by bars (0 = seconds)", "0"},
  {"snap", "Snap inpaint (0 off 1 beat 2 bar)", "0"},
  {"variations", "Variations (takes)", "4"},
  {"ratio", "Interpolation ratio (0-1)", tostring(DD.ENGINE.tasks.interpolate.ratio)},
  {"engine", "Engine endpoint", "tcp://127.0.0.1:5557"},
  {"cli", "daw-diffusion command", "daw-diffusion"},
}
DD.DEFAULTS = {prompt = ""}
for _, s in ipairs(DD.SETTINGS) do DD.DEFAULTS[s[1]] = s[3] end

function DD.get(name)
  local value = host.load(name)
  if value == "" then return DD.DEFAULTS[name] end
  return value
end

local function numeric(setting)
  return setting[1] ~= "engine" and setting[1] ~= "cli"
end

-- Stored numbers that are not numbers (an old or damaged project's), as `name = "value"`.
local function damaged()
  local found = {}
  for _, s in ipairs(DD.SETTINGS) do
    local value = DD.get(s[1])
    if numeric(s) and value ~= "" and not tonumber(value) then found[#found + 1] = string.format("%s = %q", s[1], value) end
  end
  return found
end

function DD.number(name)
  local value = DD.get(name)
  if value ~= "" and not tonumber(value) and not DD.warned then  -- said once, naming every such setting
    DD.warned = true
    DD.message("These stored settings are not numbers, so their defaults are used: " .. table.concat(damaged(), ", ")
               .. ". Set them again in \"daw-diffusion - Settings\" (nothing was changed).")
  end
  return tonumber(value) or tonumber(DD.DEFAULTS[name])
end

-- A task parameter: the user's setting, else the engine's default for that task.
function DD.task_number(name, task)
  return DD.number(name) or DD.ENGINE.tasks[task][name]
end

function DD.set(name, value, project)
  host.store(name, tostring(value), true, project)
end

-- The settings dialog's fields, in `DD.SETTINGS` order: stored (for this project only when
-- `project`) when all are valid, else a reason and nothing stored.
function DD.apply_settings(fields, project)
  if #fields ~= #DD.SETTINGS then return "Settings cannot contain commas; nothing was changed." end
  for k, s in ipairs(DD.SETTINGS) do
    local may_be_empty = s[3] == ""  -- empty: the engine's default
    if numeric(s) and not tonumber(fields[k]) and not (may_be_empty and fields[k] == "") then
      return string.format("%s must be a number, not %q; nothing was changed.", s[2], fields[k])
    end
  end
  for k, s in ipairs(DD.SETTINGS) do DD.set(s[1], fields[k], project) end
  return nil
end

-- Messages -------------------------------------------------------------------------------------

function DD.message(text)
  host.message(text)
end

local HINTS = {
  unreachable = "\n\nIs the engine running? Start it with `daw-diffusion serve`, or check the "
    .. "engine endpoint in \"daw-diffusion - Settings\".",
  busy = "\n\nThe engine's queue is full; try again when a job has finished.",
}

-- Paths and processes --------------------------------------------------------------------------

function DD.is_windows()
  return host.os():match("^Win") ~= nil
end

function DD.quote(arg)
  arg = tostring(arg)
  if DD.is_windows() then
    return '"' .. arg:gsub('"', "'") .. '"'  -- Windows paths cannot hold a double quote
  end
  return '"' .. arg:gsub('[\\"$`]', "\\%0") .. '"'
end

function DD.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function DD.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

function DD.jobs_folder()
  local base = os.getenv("TMPDIR") or os.getenv("TEMP") or "/tmp"
  local folder = base .. "/daw-diffusion-jobs"
  host.make_dir(folder)
  return folder
end

-- Start a command line without waiting for it (the launcher is replaceable in tests).
function DD.launch(command, log)
  if DD.is_windows() then
    host.run_detached(command)
  else
    os.execute(command .. " > " .. DD.quote(log) .. " 2>&1 &")
  end
end

DD.json = dofile(DD.FOLDER .. "daw-diffusion_json.lua")  -- the CLI's one result line -> a table, or nil

-- Jobs -----------------------------------------------------------------------------------------

function DD.seed()
  local seed = math.floor(DD.number("seed"))
  if seed < 0 then seed = math.random(0, 2147483646) end
  return seed
end

-- The arguments every render gets from the settings.
function DD.common_args(seed)
  local args = {"--seed", seed, "--engine", DD.get("engine"), "--crossfade", DD.number("crossfade")}
  local guide = DD.number("guide")  -- inpaint/extend: from the clip's best-matching copy (0) to the model alone (1)
  if guide >= 0 then
    args[#args + 1] = "--guide"
    args[#args + 1] = guide
  end
  local steps = math.floor(DD.number("steps"))
  if steps > 0 then
    args[#args + 1] = "--steps"
    args[#args + 1] = steps
  end
  if DD.get("prompt") ~= "" then
    for _, a in ipairs({"--prompt", DD.get("prompt"), "--guidance", DD.number("guidance")}) do
      args[#args + 1] = a
    end
  end
  return args
end

DD.running = {}  -- jobs of this script instance

-- Start `render` with `args`; `on_done(result)` runs (inside the defer loop) when it finishes.
function DD.start(label, args, on_done, command_name)
  DD.counter = (DD.counter or 0) + 1
  local id = string.format("%d-%d-%d", os.time(), math.random(100000, 999999), DD.counter)
  local base = DD.jobs_folder() .. "/" .. id
  local job = {
    label = label, on_done = on_done, started = host.now(), fraction = 0, stage = "starting",
    progress = base .. ".progress", cancel = base .. ".cancel", result = base .. ".json", log = base .. ".log",
  }
  local command = {DD.quote(DD.get("cli")), DD.quote(command_name or "render")}
  for _, a in ipairs(args) do command[#command + 1] = DD.quote(a) end
  local own = {"--result-file", job.result}  -- `status` takes only this; a render all of them
  if not command_name then
    own = {"--out-dir", host.out_dir(), "--progress-file", job.progress, "--cancel-file", job.cancel,
           "--result-file", job.result, "--quiet"}
  end
  for _, a in ipairs(own) do command[#command + 1] = DD.quote(a) end
  job.command = table.concat(command, " ")
  DD.remember(job.cancel, true)
  DD.launch(job.command, job.log)
  DD.running[#DD.running + 1] = job
  return job
end

-- The engine's state, asked with `daw-diffusion status`: `on_done(result)` gets its JSON line
-- (version, model, device, queue); a failure (not answering, another protocol) is told as any job's.
function DD.check_engine(on_done)
  DD.start("engine status", {"--engine", DD.get("engine"), "--timeout", "3"}, on_done, "status")
  DD.watch()
end

-- A line for the user from `status`'s answer.
function DD.describe_engine(result)
  return string.format("The engine at %s answers: daw-diffusion %s, model %s on %s; %d job(s) queued (of %d), %d running.",
                       result.engine, tostring(result.version), tostring(result.model), tostring(result.device),
                       result.queued or 0, result.capacity or 0, result.running or 0)
end

-- Cancel files of all running jobs (of every script instance) live in ExtState.
function DD.remember(cancel_file, running)
  local list = {}
  for path in host.load("running"):gmatch("[^\n]+") do
    if path ~= cancel_file then list[#list + 1] = path end
  end
  if running then list[#list + 1] = cancel_file end
  host.store("running", table.concat(list, "\n"), false)
end

local START_TIMEOUT = 30  -- seconds for the CLI to show a sign of life

function DD.poll(job)
  local text = DD.read(job.result)
  if text then
    return DD.json(text) or {ok = false, code = "failed", message = "unreadable result: " .. text}
  end
  local progress = DD.read(job.progress)
  if progress then
    local fraction, stage = progress:match("^(%S+)%s+(%S*)")
    job.fraction, job.stage, job.alive = tonumber(fraction) or job.fraction, stage or job.stage, true
    job.engine = progress:match("\n([^\n]+)") or job.engine  -- the engine that runs it, and its queue
  elseif not job.alive and host.now() - job.started > START_TIMEOUT then
    local log = DD.read(job.log) or ""
    return {ok = false, code = "not_started", message = "the daw-diffusion command did not start (check its path "
      .. "in \"daw-diffusion - Settings\")" .. (log ~= "" and (":\n" .. log:sub(1, 400)) or "")}
  end
  return nil
end

function DD.finish(job, result)
  job.done = true
  DD.remember(job.cancel, false)
  for _, path in ipairs({job.progress, job.result, job.log, job.cancel}) do os.remove(path) end
  if result.ok then
    local ok, err = pcall(job.on_done, result)
    if not ok then DD.message("daw-diffusion: could not insert the result of " .. job.label .. ": " .. tostring(err)) end
  elseif result.code ~= "cancelled" then
    DD.message("daw-diffusion: " .. job.label .. " failed.\n\n" .. tostring(result.message) .. (HINTS[result.code] or ""))
  end
end

-- The defer loop: polls every running job until all have finished.
function DD.watch()
  local open = {}
  for _, job in ipairs(DD.running) do
    if not job.done then
      local result = DD.poll(job)
      if result then DD.finish(job, result) else open[#open + 1] = job end
    end
  end
  host.show(open)
  if #open > 0 then host.defer(DD.watch) end
end

function DD.cancel_all()
  local count = 0
  for path in host.load("running"):gmatch("[^\n]+") do
    local f = io.open(path, "w")
    if f then f:close() count = count + 1 end
  end
  host.store("running", "", false)
  DD.message(count == 0 and "No daw-diffusion jobs are running." or string.format("Cancelling %d job(s).", count))
end

return DD
end
