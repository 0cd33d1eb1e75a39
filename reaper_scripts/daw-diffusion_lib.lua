-- daw-diffusion for REAPER: the library every action script loads.
--
-- An action reads what the selected takes play (source file, start offset, play rate, item
-- length), starts `daw-diffusion render` in the background for each, and polls the job's files
-- from a `defer` loop, so REAPER never freezes. A finished edit becomes a new take on the same
-- item; a generation or interpolation becomes a new item. Each result goes in one undo block.
-- Nothing is inserted when a job fails, and no source file is ever touched.

local DD = {}
DD.SECTION = "daw-diffusion"
-- the engine's own defaults (written from its tables; next to this file)
DD.ENGINE = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "daw-diffusion_defaults.lua")

-- Settings -------------------------------------------------------------------------------------

DD.SETTINGS = {  -- name, caption, default (kept in ExtState; "" = the engine's default for each task)
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
  local value = reaper.GetExtState(DD.SECTION, name)
  if value == "" then return DD.DEFAULTS[name] end
  return value
end

function DD.number(name)
  return tonumber(DD.get(name)) or tonumber(DD.DEFAULTS[name])
end

-- A task parameter: the user's setting, else the engine's default for that task.
function DD.task_number(name, task)
  return DD.number(name) or DD.ENGINE.tasks[task][name]
end

function DD.set(name, value)
  reaper.SetExtState(DD.SECTION, name, tostring(value), true)
end

-- Messages -------------------------------------------------------------------------------------

function DD.message(text)
  reaper.ShowMessageBox(text, "daw-diffusion", 0)
end

local HINTS = {
  unreachable = "\n\nIs the engine running? Start it with `daw-diffusion serve`, or check the "
    .. "engine endpoint in \"daw-diffusion - Settings\".",
  busy = "\n\nThe engine's queue is full; try again when a job has finished.",
}

-- Paths and processes --------------------------------------------------------------------------

function DD.is_windows()
  return reaper.GetOS():match("^Win") ~= nil
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
  reaper.RecursiveCreateDirectory(folder, 0)
  return folder
end

-- Start a command line without waiting for it (the launcher is replaceable in tests).
function DD.launch(command, log)
  if DD.is_windows() then
    reaper.ExecProcess(command, -2)  -- -2: do not wait, no console window
  else
    os.execute(command .. " > " .. DD.quote(log) .. " 2>&1 &")
  end
end

-- A tiny JSON reader for the CLI's one result line --------------------------------------------

local function json_value(s, i)
  i = s:find("%S", i)
  local c = s:sub(i, i)
  if c == "{" then
    local t = {}
    i = s:find("%S", i + 1)
    if s:sub(i, i) == "}" then return t, i + 1 end
    while true do
      local key
      key, i = json_value(s, i)
      i = s:find(":", i) + 1
      t[key], i = json_value(s, i)
      i = s:find("%S", i)
      if s:sub(i, i) == "}" then return t, i + 1 end
      i = i + 1  -- the comma
    end
  elseif c == "[" then
    local t = {}
    i = s:find("%S", i + 1)
    if s:sub(i, i) == "]" then return t, i + 1 end
    while true do
      t[#t + 1], i = json_value(s, i)
      i = s:find("%S", i)
      if s:sub(i, i) == "]" then return t, i + 1 end
      i = i + 1
    end
  elseif c == '"' then
    local out, j = {}, i + 1
    while true do
      local ch = s:sub(j, j)
      if ch == '"' then return table.concat(out), j + 1 end
      if ch == "\\" then
        local e = s:sub(j + 1, j + 1)
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(s:sub(j + 2, j + 5), 16))
          j = j + 6
        else
          out[#out + 1] = ({n = "\n", t = "\t", r = "\r", b = "\b", f = "\f"})[e] or e
          j = j + 2
        end
      else
        out[#out + 1] = ch
        j = j + 1
      end
    end
  elseif s:sub(i, i + 3) == "true" then return true, i + 4
  elseif s:sub(i, i + 4) == "false" then return false, i + 5
  elseif s:sub(i, i + 3) == "null" then return nil, i + 4
  end
  local number = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
  return tonumber(number), i + #number
end

function DD.json(text)
  local ok, value = pcall(json_value, text, 1)
  if ok then return value end
  return nil
end

-- What a take plays ----------------------------------------------------------------------------

-- The slice of a file that `item`'s active take plays, or nil and a reason to tell the user.
function DD.take_source(item)
  local take = reaper.GetActiveTake(item)
  if not take then return nil, "an empty item has no audio to work on" end
  if reaper.TakeIsMIDI(take) then return nil, "MIDI items have no audio: render them to audio first" end
  local source = reaper.GetMediaItemTake_Source(take)
  local kind = reaper.GetMediaSourceType(source, "")
  if kind == "SECTION" then
    return nil, "the take plays a section or is reversed: glue the item (or apply the take's FX) first"
  end
  if reaper.TakeFX_GetCount(take) > 0 then
    return nil, "the take has FX that the source file does not: glue the item (or apply the take's FX) first"
  end
  if reaper.GetMediaItemTakeInfo_Value(take, "D_PITCH") ~= 0 then
    return nil, "the take is pitch-shifted: glue the item first, so that what you hear is what is sent"
  end
  if reaper.GetMediaItemTakeInfo_Value(take, "I_CHANMODE") ~= 0 then
    return nil, "the take uses a channel mode (mono/reverse stereo): glue the item first"
  end
  local file = reaper.GetMediaSourceFileName(source, "")
  if file == "" or not DD.exists(file) then
    return nil, "the media file is offline or missing" .. (file ~= "" and (": " .. file) or "")
  end
  local rate = reaper.GetMediaItemTakeInfo_Value(take, "D_PLAYRATE")
  local offset = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS")
  local item_length = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
  local length = item_length * rate  -- seconds of source the item plays
  local source_length = reaper.GetMediaSourceLength(source)
  if offset < 0 or offset + length > source_length + 1e-6 then
    return nil, "the item plays past the ends of its source (looped or extended): glue it first"
  end
  return {
    take = take, file = file, offset = offset, length = length, rate = rate,
    position = reaper.GetMediaItemInfo_Value(item, "D_POSITION"), item_length = item_length,
    preserve_pitch = reaper.GetMediaItemTakeInfo_Value(take, "B_PPITCH"),
  }
end

function DD.selected_items()
  local items = {}
  for i = 0, reaper.CountSelectedMediaItems(0) - 1 do
    items[#items + 1] = reaper.GetSelectedMediaItem(0, i)
  end
  return items
end

function DD.time_selection()
  local start, stop = reaper.GetSet_LoopTimeRange(false, false, 0, 0, false)
  if stop - start <= 0 then return nil end
  return start, stop
end

-- The project's tempo and meter where the item starts, in the take's source time (a take played
-- at rate 2 hears the project's tempo at half speed in its file), and where the first downbeat at
-- or after the item's start falls in the slice. Tempo changes inside the item are not followed.
function DD.musical_time(src)
  local num = reaper.TimeMap_GetTimeSigAtTime(0, src.position)
  local bpm = reaper.TimeMap_GetDividedBpmAtTime(0, src.position)  -- beats of the signature's denominator
  local beat_in_bar, measure = reaper.TimeMap2_timeToBeats(0, src.position)
  local downbeat = src.position
  if beat_in_bar > 1e-9 then downbeat = reaper.TimeMap2_beatsToTime(0, 0, measure + 1) end
  return {bpm = bpm / src.rate, beats = math.floor(num), offset = (downbeat - src.position) * src.rate,
          bar_seconds = num * 60 / bpm}  -- bar_seconds: on the timeline
end

local function time_args(time)
  return {"--bpm", string.format("%.6f", time.bpm), "--beats-per-bar", time.beats,
          "--beat-offset", string.format("%.9f", time.offset)}
end

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
function DD.start(label, args, on_done)
  DD.counter = (DD.counter or 0) + 1
  local id = string.format("%d-%d-%d", os.time(), math.random(100000, 999999), DD.counter)
  local base = DD.jobs_folder() .. "/" .. id
  local job = {
    label = label, on_done = on_done, started = reaper.time_precise(), fraction = 0, stage = "starting",
    progress = base .. ".progress", cancel = base .. ".cancel", result = base .. ".json", log = base .. ".log",
  }
  local out_dir = reaper.GetProjectPath("")
  local command = {DD.quote(DD.get("cli")), DD.quote("render")}
  for _, a in ipairs(args) do command[#command + 1] = DD.quote(a) end
  for _, a in ipairs({"--out-dir", out_dir, "--progress-file", job.progress, "--cancel-file", job.cancel,
                      "--result-file", job.result, "--quiet"}) do
    command[#command + 1] = DD.quote(a)
  end
  job.command = table.concat(command, " ")
  DD.remember(job.cancel, true)
  DD.launch(job.command, job.log)
  DD.running[#DD.running + 1] = job
  return job
end

-- Cancel files of all running jobs (of every script instance) live in ExtState.
function DD.remember(cancel_file, running)
  local list = {}
  for path in reaper.GetExtState(DD.SECTION, "running"):gmatch("[^\n]+") do
    if path ~= cancel_file then list[#list + 1] = path end
  end
  if running then list[#list + 1] = cancel_file end
  reaper.SetExtState(DD.SECTION, "running", table.concat(list, "\n"), false)
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
  elseif not job.alive and reaper.time_precise() - job.started > START_TIMEOUT then
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

function DD.show_progress()
  if not gfx then return end
  local open = {}
  for _, job in ipairs(DD.running) do
    if not job.done then open[#open + 1] = job end
  end
  if #open == 0 then
    gfx.quit()
    return
  end
  if not DD.window then
    gfx.init("daw-diffusion", 420, 30 + 22 * #open)
    DD.window = true
  end
  gfx.set(0.12, 0.12, 0.12)
  gfx.rect(0, 0, gfx.w, gfx.h, 1)
  for k, job in ipairs(open) do
    local y = 10 + 22 * (k - 1)
    gfx.set(0.25, 0.55, 0.9)
    gfx.rect(10, y, math.floor((gfx.w - 20) * job.fraction), 18, 1)
    gfx.set(1, 1, 1)
    gfx.x, gfx.y = 14, y + 2
    gfx.drawstr(string.format("%s  %d%%  %s", job.label, math.floor(100 * job.fraction + 0.5), job.stage))
  end
  gfx.update()
end

-- The defer loop: polls every running job until all have finished.
function DD.watch()
  local pending = 0
  for _, job in ipairs(DD.running) do
    if not job.done then
      local result = DD.poll(job)
      if result then DD.finish(job, result) else pending = pending + 1 end
    end
  end
  DD.show_progress()
  if pending > 0 then reaper.defer(DD.watch) end
end

-- Inserting results ----------------------------------------------------------------------------

local function in_undo_block(name, fn)
  reaper.PreventUIRefresh(1)
  reaper.Undo_BeginBlock()
  local ok, err = pcall(fn)
  reaper.Undo_EndBlock("daw-diffusion: " .. name, -1)
  reaper.PreventUIRefresh(-1)
  reaper.UpdateArrange()
  if not ok then error(err, 0) end
end

local function still_there(item)
  return reaper.ValidatePtr2(0, item, "MediaItem*")
end

-- A new take on `item` playing `output` from its start, at the source take's rate.
function DD.add_take(item, src, output, name)
  local take = reaper.AddTakeToMediaItem(item)
  reaper.SetMediaItemTake_Source(take, reaper.PCM_Source_CreateFromFile(output.path))
  reaper.SetMediaItemTakeInfo_Value(take, "D_STARTOFFS", 0)
  reaper.SetMediaItemTakeInfo_Value(take, "D_PLAYRATE", src.rate)
  reaper.SetMediaItemTakeInfo_Value(take, "B_PPITCH", src.preserve_pitch)
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", name, true)
  reaper.SetActiveTake(take)
  return take
end

-- A new item on `track` at `position` playing `output`.
function DD.add_item(track, position, output, name)
  local item = reaper.AddMediaItemToTrack(track)
  reaper.SetMediaItemInfo_Value(item, "D_POSITION", position)
  reaper.SetMediaItemInfo_Value(item, "D_LENGTH", output.seconds)
  local take = reaper.AddTakeToMediaItem(item)
  reaper.SetMediaItemTake_Source(take, reaper.PCM_Source_CreateFromFile(output.path))
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", name, true)
  return item
end

-- The selected track, or a new one at the end named daw-diffusion.
function DD.target_track()
  local track = reaper.GetSelectedTrack(0, 0)
  if track then return track end
  local index = reaper.CountTracks(0)
  reaper.InsertTrackAtIndex(index, true)
  track = reaper.GetTrack(0, index)
  reaper.GetSetMediaTrackInfo_String(track, "P_NAME", "daw-diffusion", true)
  return track
end

-- Edits of selected items: the same job for each, a new take for each result.
local function edit_items(task_label, build)
  local items = DD.selected_items()
  if #items == 0 then return DD.message("Select one or more audio items first.") end
  local problems, jobs = {}, {}
  for k, item in ipairs(items) do
    local src, why = DD.take_source(item)
    local plan = src and build(item, src)
    if not src then
      problems[#problems + 1] = string.format("item %d: %s", k, why)
    elseif type(plan) == "string" then
      problems[#problems + 1] = string.format("item %d: %s", k, plan)
    else
      jobs[#jobs + 1] = {item = item, src = src, plan = plan}
    end
  end
  if #problems > 0 then
    return DD.message("Nothing was started:\n\n" .. table.concat(problems, "\n"))
  end
  for _, j in ipairs(jobs) do
    for _, run in ipairs(j.plan) do
      DD.start(task_label, run.args, function(result)
        if not still_there(j.item) then
          return DD.message("The item was deleted while the job ran; the result is at\n" .. result.outputs[1].path)
        end
        in_undo_block(task_label, function() run.insert(j.item, j.src, result) end)
      end)
    end
  end
  DD.watch()
end

local function slice_args(task, src)
  return {"--task", task, "--input", src.file, "--offset", string.format("%.9f", src.offset),
          "--length", string.format("%.9f", src.length)}
end

local function join(...)
  local out = {}
  for _, list in ipairs({...}) do
    for _, v in ipairs(list) do out[#out + 1] = v end
  end
  return out
end

function DD.style()
  local strength = DD.task_number("strength", "style_transfer")
  edit_items("style transfer", function(_, src)
    local seed = DD.seed()
    return {{
      args = join(slice_args("style", src), {"--strength", strength, "--tag", "style"}, DD.common_args(seed)),
      insert = function(item, s, result)
        DD.add_take(item, s, result.outputs[1], string.format("style %.2f seed %d", strength, result.outputs[1].seed))
      end,
    }}
  end)
end

-- A variation of each selected loop: a new take of exactly the same length that loops seamlessly.
function DD.vary()
  local strength = DD.task_number("strength", "vary")
  edit_items("vary", function(_, src)
    return {{
      args = join(slice_args("vary", src), {"--strength", strength, "--tag", "vary"}, DD.common_args(DD.seed())),
      insert = function(item, s, result)
        DD.add_take(item, s, result.outputs[1], string.format("vary %.2f seed %d", strength, result.outputs[1].seed))
      end,
    }}
  end)
end

function DD.variations()
  local strength = DD.task_number("strength", "style_transfer")
  local count = math.max(1, math.floor(DD.number("variations")))
  edit_items("variations", function(_, src)
    local first, runs = DD.seed(), {}
    for k = 1, count do
      runs[k] = {
        args = join(slice_args("style", src), {"--strength", strength, "--tag", "var" .. k},
                    DD.common_args(first + k - 1)),
        insert = function(item, s, result)
          DD.add_take(item, s, result.outputs[1],
                      string.format("var %d style %.2f seed %d", k, strength, result.outputs[1].seed))
        end,
      }
    end
    return runs
  end)
end

function DD.inpaint()
  local start, stop = DD.time_selection()
  if not start then return DD.message("Make a time selection over the part to redo first.") end
  edit_items("inpaint", function(item, src)
    local from = math.max(start, src.position) - src.position
    local to = math.min(stop, src.position + src.item_length) - src.position
    if to <= from then return "the time selection does not cross this item" end
    local region = string.format("%.9f:%.9f", from * src.rate, to * src.rate)  -- seconds of the slice
    local args = join(slice_args("inpaint", src), {"--region", region, "--tag", "inpaint"}, DD.common_args(DD.seed()))
    local snap = ({[1] = "beat", [2] = "bar"})[math.floor(DD.number("snap"))]
    if snap then args = join(args, {"--snap", snap}, time_args(DD.musical_time(src))) end
    return {{
      args = args,
      insert = function(it, s, result)
        DD.add_take(it, s, result.outputs[1],
                    string.format("inpaint %.2f-%.2f seed %d", from, to, result.outputs[1].seed))
      end,
    }}
  end)
end

function DD.extend(direction)
  local seconds, bars = DD.number("extend"), DD.number("extend_bars")
  if bars <= 0 and seconds <= 0 then
    return DD.message("Set \"Extend by\" (seconds) or \"Extend by bars\" to a positive number in Settings.")
  end
  edit_items("extend " .. direction, function(_, src)
    local length, label = {"--seconds", seconds}, string.format("%.2f", seconds)
    local timeline = seconds / src.rate  -- how much longer the item gets on the timeline
    if bars > 0 then
      local time = DD.musical_time(src)
      length, label = join({"--bars", bars}, time_args(time)), string.format("%g bars", bars)
      timeline = bars * time.bar_seconds
    end
    if direction == "left" and src.position - timeline < 0 then
      return string.format("there are only %.2f s before the item", src.position)
    end
    return {{
      args = join(slice_args("extend", src), length, {"--direction", direction, "--tag", "extend"},
                  DD.common_args(DD.seed())),
      insert = function(item, s, result)
        local out = result.outputs[1]  -- its frames, where given, are exact; its seconds are rounded
        local grown = ((out.frames and out.frames / out.sample_rate or out.seconds) - s.length) / s.rate
        local others = {}
        for t = 0, reaper.CountTakes(item) - 1 do others[#others + 1] = reaper.GetTake(item, t) end
        DD.add_take(item, s, result.outputs[1],
                    string.format("extend %s %s seed %d", direction, label, result.outputs[1].seed))
        reaper.SetMediaItemInfo_Value(item, "D_LENGTH", s.item_length + grown)
        if direction == "left" then
          reaper.SetMediaItemInfo_Value(item, "D_POSITION", s.position - grown)
          for _, take in ipairs(others) do  -- the other takes keep playing at the same time as before
            local rate = reaper.GetMediaItemTakeInfo_Value(take, "D_PLAYRATE")
            local offs = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS")
            reaper.SetMediaItemTakeInfo_Value(take, "D_STARTOFFS", offs - grown * rate)
          end
        end
      end,
    }}
  end)
end

function DD.interpolate()
  local items = DD.selected_items()
  if #items ~= 2 then return DD.message("Select exactly two audio items to interpolate between.") end
  local a, why_a = DD.take_source(items[1])
  local b, why_b = DD.take_source(items[2])
  if not a or not b then return DD.message("Nothing was started: " .. (why_a or why_b)) end
  local ratio = DD.number("ratio")
  local args = join({"--task", "interpolate", "--input", a.file, "--offset", string.format("%.9f", a.offset),
                     "--length", string.format("%.9f", a.length), "--input-b", b.file,
                     "--offset-b", string.format("%.9f", b.offset), "--length-b", string.format("%.9f", b.length),
                     "--ratio", ratio, "--tag", "interpolate"}, DD.common_args(DD.seed()))
  DD.start("interpolate", args, function(result)
    in_undo_block("interpolate", function()
      DD.add_item(DD.target_track(), math.min(a.position, b.position), result.outputs[1],
                  string.format("interpolate %.2f seed %d", ratio, result.outputs[1].seed))
    end)
  end)
  DD.watch()
end

function DD.generate()
  local start, stop = DD.time_selection()
  if not start then return DD.message("Make a time selection as long as the audio to generate first.") end
  local rate = math.floor(reaper.GetSetProjectInfo(0, "PROJECT_SRATE", 0, false))
  if rate <= 0 then rate = 44100 end
  local args = join({"--task", "generate", "--seconds", string.format("%.9f", stop - start), "--sample-rate", rate,
                     "--tag", "generate"}, DD.common_args(DD.seed()))
  DD.start("generate", args, function(result)
    in_undo_block("generate", function()
      DD.add_item(DD.target_track(), start, result.outputs[1], string.format("generate seed %d", result.outputs[1].seed))
    end)
  end)
  DD.watch()
end

function DD.cancel_all()
  local count = 0
  for path in reaper.GetExtState(DD.SECTION, "running"):gmatch("[^\n]+") do
    local f = io.open(path, "w")
    if f then f:close() count = count + 1 end
  end
  reaper.SetExtState(DD.SECTION, "running", "", false)
  DD.message(count == 0 and "No daw-diffusion jobs are running." or string.format("Cancelling %d job(s).", count))
end

function DD.settings()
  local captions, values = {}, {}
  for _, s in ipairs(DD.SETTINGS) do
    captions[#captions + 1] = s[2]
    values[#values + 1] = DD.get(s[1])
  end
  local ok, answer = reaper.GetUserInputs("daw-diffusion settings", #captions,
                                          table.concat(captions, ",") .. ",extrawidth=220", table.concat(values, ","))
  if not ok then return end
  local fields = {}
  for field in (answer .. ","):gmatch("([^,]*),") do fields[#fields + 1] = field end
  if #fields ~= #DD.SETTINGS then return DD.message("Settings cannot contain commas; nothing was changed.") end
  for k, s in ipairs(DD.SETTINGS) do
    local numeric = s[1] ~= "engine" and s[1] ~= "cli"
    local may_be_empty = s[3] == ""  -- empty: the engine's default
    if numeric and not tonumber(fields[k]) and not (may_be_empty and fields[k] == "") then
      return DD.message(string.format("%s must be a number, not %q; nothing was changed.", s[2], fields[k]))
    end
  end
  for k, s in ipairs(DD.SETTINGS) do DD.set(s[1], fields[k]) end
  -- the prompt has a dialog of its own: one field keeps its commas
  local has_prompt, prompt = reaper.GetUserInputs("daw-diffusion prompt (empty: none)", 1,
                                                  "Prompt,extrawidth=320", DD.get("prompt"))
  if has_prompt then DD.set("prompt", prompt) end
end

return DD
