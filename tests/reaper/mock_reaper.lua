-- A stand-in for REAPER's `reaper` API: a small project model (tracks, items, takes, sources,
-- selection, time selection, ExtState) and a log of every call. Only the functions the scripts
-- use exist; calling any other name fails, so a typo cannot pass unnoticed.

local M = {}

function M.install(options)
  options = options or {}
  local p = {
    tracks = {}, selected = {}, loop = {0, 0}, ext = {}, calls = {}, deferred = {}, messages = {}, undo = {},
    depth = 0, os = options.os or "Linux", project_path = options.project_path or "/tmp", srate = options.srate or 48000,
    inputs = options.inputs or {}, sources = {},
    tempo = options.tempo or 120, timesig = options.timesig or {4, 4},  -- one tempo, one meter
  }
  M.project = p

  local api = {}
  local function item_info(item, key)
    return item[key]
  end

  function api.GetOS() return p.os end
  function api.GetExtState(section, key) return p.ext[section .. "/" .. key] or "" end
  function api.SetExtState(section, key, value) p.ext[section .. "/" .. key] = value end
  p.proj_ext = {}  -- the open project's ExtState (saved in the .rpp)
  function api.GetProjExtState(_, section, key)
    local value = p.proj_ext[section .. "/" .. key] or ""
    return #value, value
  end
  function api.SetProjExtState(_, section, key, value)
    p.proj_ext[section .. "/" .. key] = value
    return 1
  end
  function api.ShowMessageBox(text) p.messages[#p.messages + 1] = text return 1 end
  function api.RecursiveCreateDirectory(path) os.execute("mkdir -p '" .. path .. "'") return 1 end
  function api.ExecProcess(command, timeout) p.exec = {command, timeout} return "" end
  function api.time_precise() return os.clock() + (p.clock_offset or 0) end
  function api.GetProjectPath() return p.project_path end
  function api.defer(fn) p.deferred[#p.deferred + 1] = fn end
  function api.PreventUIRefresh() end
  function api.UpdateArrange() p.arrange_updates = (p.arrange_updates or 0) + 1 end
  function api.Undo_BeginBlock() p.depth = p.depth + 1 end
  function api.Undo_EndBlock(name)
    p.depth = p.depth - 1
    p.undo[#p.undo + 1] = name
  end
  function api.GetUserInputs(title, n, captions, values)
    local answer = table.remove(p.inputs, 1)
    if answer == nil then return false, values end
    return true, answer
  end
  function api.get_action_context() return false, options.script or "", 0, 0, 0, 0, 0 end
  function api.GetSetProjectInfo(_, key) assert(key == "PROJECT_SRATE") return p.srate end

  -- items and takes
  function api.CountSelectedMediaItems() return #p.selected end
  function api.GetSelectedMediaItem(_, i) return p.selected[i + 1] end
  function api.GetSet_LoopTimeRange() return p.loop[1], p.loop[2] end
  function api.ValidatePtr2(_, item) return not item.deleted end
  function api.GetActiveTake(item) return item.takes[item.active] end
  function api.CountTakes(item) return #item.takes end
  function api.GetTake(item, i) return item.takes[i + 1] end
  function api.TakeIsMIDI(take) return take.midi end
  function api.TakeFX_GetCount(take) return take.fx end
  function api.GetMediaItemTake_Source(take) return take.source end
  function api.GetMediaSourceType(source) return source.type end
  function api.GetMediaSourceFileName(source) return source.file end
  function api.GetMediaSourceLength(source) return source.length, false end
  function api.GetMediaItemInfo_Value(item, key) return assert(item_info(item, key), key) end
  function api.SetMediaItemInfo_Value(item, key, value) item[key] = value return true end
  function api.GetMediaItemTakeInfo_Value(take, key) return assert(take[key], key) end
  function api.SetMediaItemTakeInfo_Value(take, key, value) take[key] = value return true end
  function api.GetSetMediaItemTakeInfo_String(take, key, value, set)
    assert(key == "P_NAME")
    if set then take.P_NAME = value end
    return true, take.P_NAME
  end
  function api.AddTakeToMediaItem(item)
    local take = M.take(item, {})
    item.takes[#item.takes + 1] = take
    return take
  end
  function api.SetActiveTake(take) take.item.active = M.index_of(take.item.takes, take) end
  function api.PCM_Source_CreateFromFile(file)
    local source = {file = file, type = "WAVE", length = 0}
    p.sources[#p.sources + 1] = source
    return source
  end
  function api.SetMediaItemTake_Source(take, source) take.source = source return true end

  -- the tempo map: `p.tempo` quarter notes a minute, `p.timesig` from the project start
  local function beat_seconds() return 60 / p.tempo * 4 / p.timesig[2] end
  function api.TimeMap_GetTimeSigAtTime() return p.timesig[1], p.timesig[2], p.tempo end
  function api.TimeMap_GetDividedBpmAtTime() return p.tempo * p.timesig[2] / 4 end
  function api.TimeMap2_timeToBeats(_, t)
    local bar = p.timesig[1] * beat_seconds()
    local measure = math.floor(t / bar + 1e-9)
    local beats = (t - measure * bar) / beat_seconds()
    return beats, measure, p.timesig[1], t / beat_seconds(), p.timesig[2]
  end
  function api.TimeMap2_beatsToTime(_, beats, measures)
    return (measures or 0) * p.timesig[1] * beat_seconds() + beats * beat_seconds()
  end

  -- tracks
  function api.CountTracks() return #p.tracks end
  function api.GetTrack(_, i) return p.tracks[i + 1] end
  function api.GetSelectedTrack(_, i)
    local found = 0
    for _, track in ipairs(p.tracks) do
      if track.selected then
        if found == i then return track end
        found = found + 1
      end
    end
    return nil
  end
  function api.InsertTrackAtIndex(index) table.insert(p.tracks, index + 1, {items = {}, name = ""}) end
  function api.GetSetMediaTrackInfo_String(track, key, value, set)
    if set then track.name = value end
    return true, track.name
  end
  function api.AddMediaItemToTrack(track)
    local item = {track = track, takes = {}, active = 1, D_POSITION = 0, D_LENGTH = 0}
    track.items[#track.items + 1] = item
    return item
  end

  _G.reaper = setmetatable({}, {
    __index = function(_, name)
      local fn = api[name]
      if not fn then error("the mock reaper API has no " .. name, 2) end
      return function(...)
        p.calls[#p.calls + 1] = {name, ...}
        return fn(...)
      end
    end,
  })
  _G.gfx = nil  -- no progress window under test
  return p
end

function M.index_of(list, value)
  for k, v in ipairs(list) do
    if v == value then return k end
  end
end

function M.take(item, t)
  t.item = item
  t.D_STARTOFFS, t.D_PLAYRATE, t.B_PPITCH = t.D_STARTOFFS or 0, t.D_PLAYRATE or 1, t.B_PPITCH or 1
  t.D_PITCH, t.I_CHANMODE, t.P_NAME, t.fx = t.D_PITCH or 0, t.I_CHANMODE or 0, t.P_NAME or "", t.fx or 0
  t.midi = t.midi or false
  return t
end

-- An item on a new track playing `spec.file` (a source of `spec.source_length` seconds).
function M.add_item(spec)
  local p = M.project
  local track = {items = {}, name = "audio", selected = spec.track_selected}
  p.tracks[#p.tracks + 1] = track
  local item = {track = track, takes = {}, active = 1, D_POSITION = spec.position or 0, D_LENGTH = spec.length or 1}
  local source = {file = spec.file or "", type = spec.type or "WAVE", length = spec.source_length or 10}
  item.takes[1] = M.take(item, {source = source, D_STARTOFFS = spec.offset, D_PLAYRATE = spec.rate,
                                D_PITCH = spec.pitch, fx = spec.fx, midi = spec.midi, I_CHANMODE = spec.chanmode,
                                P_NAME = "original"})
  track.items[1] = item
  return item
end

function M.select(...)
  M.project.selected = {...}
end

function M.time_selection(start, stop)
  M.project.loop = {start, stop}
end

-- Run deferred callbacks until none is left (with real pauses when `pause` is given).
function M.run_deferred(pause, limit)
  local p, rounds = M.project, 0
  while #p.deferred > 0 do
    rounds = rounds + 1
    assert(rounds < (limit or 100000), "the defer loop never ended")
    local batch = p.deferred
    p.deferred = {}
    for _, fn in ipairs(batch) do fn() end
    if pause then os.execute("sleep " .. pause) end
  end
end

-- The arguments of a command line built with DD.quote (POSIX quoting).
function M.args(command)
  local args = {}
  for quoted in command:gmatch('"(.-[^\\])"') do
    args[#args + 1] = (quoted:gsub("\\(.)", "%1"))
  end
  return args
end

function M.value(args, flag)
  for k, a in ipairs(args) do
    if a == flag then return args[k + 1] end
  end
end

return M
