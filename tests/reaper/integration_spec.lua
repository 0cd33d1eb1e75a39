-- The action scripts under the mock `reaper`, running the real `daw-diffusion render` in the
-- background against a real engine (tests/test_reaper_scripts.py starts it and sets the paths).

local mock = dofile("tests/reaper/mock_reaper.lua")
local LIB = "reaper_scripts/daw-diffusion_lib.lua"
local CLI, ENGINE, WAV, OUT = os.getenv("DD_CLI"), os.getenv("DD_ENGINE"), os.getenv("DD_WAV"), os.getenv("DD_OUT")

-- Frames and sample rate of a WAV file, from its header.
local function wav_info(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  assert(data:sub(1, 4) == "RIFF" and data:sub(9, 12) == "WAVE", path .. " is not a WAV file")
  local at, channels, rate, bits, size = 13
  while at < #data do
    local id, length = data:sub(at, at + 3), string.unpack("<I4", data, at + 4)
    if id == "fmt " then
      channels, rate, _, _, bits = string.unpack("<I2I4I4I2I2", data, at + 10)
    elseif id == "data" then
      size = length
      break
    end
    at = at + 8 + length + length % 2
  end
  return size // (channels * bits // 8), rate, channels
end

local function setup(options)
  options = options or {}
  options.project_path = OUT
  local project = mock.install(options)
  project.ext["daw-diffusion/cli"] = CLI
  project.ext["daw-diffusion/engine"] = ENGINE
  project.ext["daw-diffusion/steps"] = "3"
  return dofile(LIB), project
end

describe("with the real command line and engine", function()
  assert.truthy(CLI and ENGINE and WAV and OUT, "run through tests/test_reaper_scripts.py")

  it("the status action shows the engine's version, model and queue", function()
    local DD, project = setup()
    DD.status()
    mock.run_deferred(0.1, 600)
    assert.are.equal(1, #project.messages)
    assert.matches("^The engine at " .. ENGINE:gsub("%p", "%%%0") .. " answers: daw%-diffusion %S+, model %S+ on cpu; "
                   .. "0 job%(s%) queued", project.messages[1])
  end)

  it("a style transfer of a sped-up item becomes a take of the right duration", function()
    local DD, project = setup()
    -- 1.2 s on the timeline at rate 1.25 plays 1.5 s of the 3 s source, from 0.5 s in
    local item = mock.add_item({file = WAV, position = 2, length = 1.2, offset = 0.5, rate = 1.25, source_length = 3})
    mock.select(item)
    DD.style()
    mock.run_deferred(0.1, 1200)
    assert.are.same({}, project.messages)
    assert.are.equal(2, #item.takes)
    local take = item.takes[2]
    assert.truthy(take.source.file:find(OUT, 1, true) == 1, take.source.file)
    local frames, rate, channels = wav_info(take.source.file)
    assert.are.same({48000, 2}, {rate, channels})
    assert.are.equal(72000, frames)  -- 1.5 s at 48 kHz: plays 1.2 s at rate 1.25, exactly the item
    assert.are.equal(1.25, take.D_PLAYRATE)
    assert.truthy(take.P_NAME:match("^style 0%.50 seed %d+$"))  -- style's own default strength
    assert.are.same({"daw-diffusion: style transfer"}, project.undo)
  end)

  it("the job window names the engine running the job, its model and queue", function()
    local DD, project = setup()
    project.ext["daw-diffusion/steps"] = "400"  -- a job long enough to be watched a few times
    local item = mock.add_item({file = WAV, position = 0, length = 1, offset = 0, source_length = 3})
    mock.select(item)
    local drawn = {}  -- the window, drawn as REAPER's gfx would
    _G.gfx = {w = 420, h = 74, init = function() end, set = function() end, rect = function() end,
              update = function() end, quit = function() end,
              drawstr = function(text) drawn[#drawn + 1] = text end}
    DD.style()
    mock.run_deferred(0.1, 1200)
    _G.gfx = nil
    assert.are.same({}, project.messages)
    local named = false
    for _, text in ipairs(drawn) do
      named = named or text:match("^engine %S+, model %S+ on cpu; %d+ queued %(of %d+%), %d+ running$") ~= nil
    end
    assert.is_true(named, table.concat(drawn, " | "))
  end)

  -- Extend a 2 s item (1 s into the 3 s source) to the right with one setting, through the real CLI.
  local function extended(options, setting, value, position)
    local DD, project = setup(options)
    project.ext["daw-diffusion/" .. setting] = value
    local item = mock.add_item({file = WAV, position = position, length = 2, offset = 1, source_length = 3})
    mock.select(item)
    DD.extend("right")
    mock.run_deferred(0.1, 1200)
    assert.are.same({}, project.messages)
    return item
  end

  it("extend right makes the item and its new take longer by the setting", function()
    local item = extended({}, "extend", "1", 0)
    assert.are.equal(3, item.D_LENGTH)
    assert.are.equal(3 * 48000, (wav_info(item.takes[2].source.file)))
  end)

  it("extend by a bar at the project's tempo grows the item by that bar, to the sample", function()
    local item = extended({tempo = 97}, "extend_bars", "1", 0.3)
    local bar = math.floor(4 * 60 * 48000 / 97 + 0.5)  -- 118763 samples
    assert.are.equal(2 * 48000 + bar, (wav_info(item.takes[2].source.file)))
    assert.are.equal(2 + bar / 48000, item.D_LENGTH)
    assert.truthy(item.takes[2].P_NAME:match("^extend right 1 bars seed %d+$"), item.takes[2].P_NAME)
  end)

  it("an unreachable engine is a message, and the project is unchanged", function()
    local DD, project = setup()
    project.ext["daw-diffusion/engine"] = "tcp://127.0.0.1:9"
    local item = mock.add_item({file = WAV, length = 1, source_length = 3})
    mock.select(item)
    DD.style()
    mock.run_deferred(0.1, 1200)
    assert.are.equal(1, #item.takes)
    assert.are.same({}, project.undo)
    assert.truthy(project.messages[1]:find("daw-diffusion serve", 1, true), project.messages[1])
  end)

  it("a cancelled job inserts nothing and leaves no files behind", function()
    local DD, project = setup()
    project.ext["daw-diffusion/steps"] = "1000"
    project.ext["daw-diffusion/strength"] = "1"
    local item = mock.add_item({file = WAV, length = 3, source_length = 3})
    mock.select(item)
    local before = io.popen('ls -A "' .. OUT .. '"'):read("a")
    DD.style()
    local job = DD.running[#DD.running]
    for _ = 1, 600 do  -- until the engine is working on it
      DD.poll(job)
      if job.fraction > 0 then break end
      os.execute("sleep 0.1")
    end
    DD.cancel_all()
    mock.run_deferred(0.1, 1200)
    assert.are.equal(1, #item.takes)
    assert.are.equal(before, io.popen('ls -A "' .. OUT .. '"'):read("a"))
  end)
end)
