-- daw-diffusion for REAPER: the library every action script loads.
--
-- An action reads what the selected takes play (source file, start offset, play rate, item
-- length), starts `daw-diffusion render` in the background for each, and polls the job's files
-- from a `defer` loop, so REAPER never freezes. A finished edit becomes a new take on the same
-- item; a generation or interpolation becomes a new item. Each result goes in one undo block.
-- Nothing is inserted when a job fails, and no source file is ever touched. What is not about
-- REAPER (settings, the CLI, jobs) is in daw-diffusion_core.lua; the actions themselves in
-- daw-diffusion_actions.lua.

local FOLDER = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or ""
local SECTION = "daw-diffusion"  -- ExtState section
local window = false

-- The running jobs' progress bars in a small window.
local function show_progress(open)
  if not gfx then return end
  if #open == 0 then
    gfx.quit()
    return
  end
  if not window then
    gfx.init("daw-diffusion", 420, 52 + 22 * #open)
    window = true
  end
  gfx.set(0.12, 0.12, 0.12)
  gfx.rect(0, 0, gfx.w, gfx.h, 1)
  gfx.set(0.7, 0.7, 0.7)
  gfx.x, gfx.y = 10, 8
  gfx.drawstr(open[1].engine or "asking the engine...")  -- which engine, its model and queue
  for k, job in ipairs(open) do
    local y = 32 + 22 * (k - 1)
    gfx.set(0.25, 0.55, 0.9)
    gfx.rect(10, y, math.floor((gfx.w - 20) * job.fraction), 18, 1)
    gfx.set(1, 1, 1)
    gfx.x, gfx.y = 14, y + 2
    gfx.drawstr(string.format("%s  %d%%  %s", job.label, math.floor(100 * job.fraction + 0.5), job.stage))
  end
  gfx.update()
end

local DD = dofile(FOLDER .. "daw-diffusion_core.lua")({
  load = function(key)  -- the project's setting (kept in the .rpp), else the user's
    local _, value = reaper.GetProjExtState(0, SECTION, key)
    if value ~= "" then return value end
    return reaper.GetExtState(SECTION, key)
  end,
  store = function(key, value, persist, project)
    if project then return reaper.SetProjExtState(0, SECTION, key, value) end
    reaper.SetExtState(SECTION, key, value, persist)
  end,
  message = function(text) reaper.ShowMessageBox(text, "daw-diffusion", 0) end,
  os = function() return reaper.GetOS() end,
  make_dir = function(path) reaper.RecursiveCreateDirectory(path, 0) end,
  run_detached = function(command) reaper.ExecProcess(command, -2) end,  -- -2: do not wait, no console window
  now = function() return reaper.time_precise() end,
  defer = function(fn) reaper.defer(fn) end,
  out_dir = function() return reaper.GetProjectPath("") end,
  show = show_progress,
})

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

dofile(FOLDER .. "daw-diffusion_actions.lua")(DD, in_undo_block, still_there, time_args)
return DD
