-- The action scripts under a mock `reaper`: exact offsets and lengths sent to the CLI (play rate
-- included), where results land, take names, undo blocks, and nothing inserted on failure. The
-- launcher is replaced by one that records the command; the test writes the CLI's result file.

local mock = dofile("tests/reaper/mock_reaper.lua")
local LIB = "reaper_scripts/daw-diffusion_lib.lua"

local function setup(options)
  local project = mock.install(options)
  local DD = dofile(LIB)
  project.launched = {}
  DD.launch = function(command) project.launched[#project.launched + 1] = command end
  return DD, project
end

-- Play the CLI's part: write the result file of the n-th launched job.
local function finish(project, n, result)
  local args = mock.args(project.launched[n])
  local f = assert(io.open(mock.value(args, "--result-file"), "w"))
  f:write(result)
  f:close()
  return args
end

local function wav_file(name)
  local path = os.tmpname() .. "-" .. name
  local f = assert(io.open(path, "w"))
  f:write("RIFF")
  f:close()
  return path
end

-- A style transfer started on one fresh item.
local function style_one(spec)
  local DD, project = setup()
  spec = spec or {}
  spec.file, spec.length = spec.file or wav_file("a.wav"), spec.length or 2
  local item = mock.add_item(spec)
  mock.select(item)
  DD.style()
  return DD, project, item
end

local function ok_json(path, seconds, seed)
  return string.format('{"ok": true, "task": "x", "outputs": [{"path": "%s", "seconds": %s, "seed": %d, '
    .. '"sample_rate": 48000, "channels": 2}]}', path, seconds, seed)
end

describe("style transfer", function()
  it("sends the slice the take plays, at its play rate, and adds a named take", function()
    local DD, project = setup()
    project.ext["daw-diffusion/seed"] = "7"
    project.ext["daw-diffusion/strength"] = "0.3"
    local src = wav_file("take one.wav")
    local item = mock.add_item({file = src, position = 10, length = 2, offset = 1.5, rate = 2, source_length = 8})
    mock.select(item)
    DD.style()
    assert.are.equal(1, #project.launched)
    local args = finish(project, 1, ok_json("/renders/styled.wav", 4.0, 7))
    assert.are.equal("render", args[2])
    assert.are.equal(src, mock.value(args, "--input"))
    assert.are.equal(1.5, tonumber(mock.value(args, "--offset")))
    assert.are.equal(4.0, tonumber(mock.value(args, "--length")))  -- 2 s on the timeline at rate 2
    assert.are.equal("0.3", mock.value(args, "--strength"))
    assert.are.equal("7", mock.value(args, "--seed"))
    assert.are.equal("tcp://127.0.0.1:5557", mock.value(args, "--engine"))
    assert.are.equal(0, #item.takes - 1)  -- nothing yet: the job runs in the background
    mock.run_deferred()
    assert.are.equal(2, #item.takes)
    local take = item.takes[2]
    assert.are.equal("style 0.30 seed 7", take.P_NAME)
    assert.are.equal("/renders/styled.wav", take.source.file)
    assert.are.same({0, 2, 1}, {take.D_STARTOFFS, take.D_PLAYRATE, take.B_PPITCH})
    assert.are.equal(2, item.active)
    assert.are.same({10, 2}, {item.D_POSITION, item.D_LENGTH})  -- the item stays where it was
    assert.are.same({"daw-diffusion: style transfer"}, project.undo)
    assert.are.equal(0, project.depth)
    assert.are.same({}, project.messages)
  end)

  it("inserts nothing and says why when the job fails", function()
    local _, project, item = style_one()
    finish(project, 1, '{"ok": false, "code": "unreachable", "message": "the engine at tcp://x is not answering"}')
    mock.run_deferred()
    assert.are.equal(1, #item.takes)
    assert.are.same({}, project.undo)
    assert.truthy(project.messages[1]:find("not answering", 1, true))
    assert.truthy(project.messages[1]:find("daw-diffusion serve", 1, true))
  end)

  it("stays quiet about a cancelled job and inserts nothing", function()
    local _, project, item = style_one()
    finish(project, 1, '{"ok": false, "code": "cancelled", "message": "the job was cancelled"}')
    mock.run_deferred()
    assert.are.same({1, {}, {}}, {#item.takes, project.undo, project.messages})
  end)

  it("reports a command that never starts instead of waiting forever", function()
    local _, project = style_one()
    project.clock_offset = 1000
    mock.run_deferred()
    assert.truthy(project.messages[1]:find("did not start", 1, true))
  end)

  it("leaves a deleted item alone and says where the result is", function()
    local _, project, item = style_one()
    item.deleted = true
    finish(project, 1, ok_json("/renders/x.wav", 2, 1))
    mock.run_deferred()
    assert.are.equal(1, #item.takes)
    assert.truthy(project.messages[1]:find("/renders/x.wav", 1, true))
  end)
end)

describe("takes that cannot be read as they sound", function()
  local cases = {
    {"nothing selected", nil, "Select one or more audio items"},
    {"a MIDI item", {midi = true}, "MIDI items"},
    {"take FX", {fx = 2}, "FX"},
    {"pitch shift", {pitch = -3}, "pitch-shifted"},
    {"a reversed source", {type = "SECTION"}, "reversed"},
    {"a channel mode", {chanmode = 2}, "channel mode"},
    {"offline media", {file = "/no/such/file.wav"}, "offline or missing"},
    {"a looped item", {length = 12, source_length = 10}, "past the ends"},
  }
  for _, case in ipairs(cases) do
    it("are refused with a message: " .. case[1], function()
      local DD, project = setup()
      if case[2] then
        local spec = {file = wav_file("a.wav"), length = 2}
        for k, v in pairs(case[2]) do spec[k] = v end
        mock.select(mock.add_item(spec))
      end
      DD.style()
      assert.are.equal(0, #project.launched)
      assert.truthy(project.messages[1]:find(case[3], 1, true), project.messages[1])
      assert.are.same({}, project.undo)
    end)
  end
end)

describe("inpaint", function()
  it("sends the time selection in seconds of the slice", function()
    local DD, project = setup()
    local item = mock.add_item({file = wav_file("a.wav"), position = 4, length = 6, offset = 2, rate = 0.5})
    mock.select(item)
    mock.time_selection(5, 7)
    DD.inpaint()
    local args = finish(project, 1, ok_json("/r/in.wav", 3, 1))
    assert.are.equal("inpaint", mock.value(args, "--task"))
    assert.are.equal(3.0, tonumber(mock.value(args, "--length")))
    local from, to = mock.value(args, "--region"):match("([^:]+):([^:]+)")
    assert.are.same({0.5, 1.5}, {tonumber(from), tonumber(to)})  -- 1 s and 3 s into the item at rate 0.5
    mock.run_deferred()
    assert.are.equal("inpaint 1.00-3.00 seed 1", item.takes[2].P_NAME)
    assert.is_nil(mock.value(args, "--guide"))  -- unset: the engine's measured default
  end)

  it("sends the guide setting when one is set", function()
    local DD, project = setup()
    DD.set("guide", "0.25")
    local item = mock.add_item({file = wav_file("a.wav"), position = 0, length = 4})
    mock.select(item)
    mock.time_selection(1, 2)
    DD.inpaint()
    assert.are.equal(0.25, tonumber(mock.value(mock.args(project.launched[1]), "--guide")))
  end)

  it("snaps to bars when set, with the project's grid in the slice's time", function()
    local DD, project = setup({tempo = 120})
    DD.set("snap", "2")
    local item = mock.add_item({file = wav_file("a.wav"), position = 3, length = 6})
    mock.select(item)
    mock.time_selection(4, 6)
    DD.inpaint()
    local args = mock.args(project.launched[1])
    assert.are.same({"bar", "120", "4", "1"}, {mock.value(args, "--snap"), mock.value(args, "--bpm"):match("^%d+"),
                                               mock.value(args, "--beats-per-bar"),
                                               mock.value(args, "--beat-offset"):match("^%d+")})
  end)

  it("needs a time selection that crosses the item", function()
    local DD, project = setup()
    mock.select(mock.add_item({file = wav_file("a.wav"), position = 4, length = 2}))
    DD.inpaint()
    assert.truthy(project.messages[1]:find("time selection", 1, true))
    mock.time_selection(20, 22)
    DD.inpaint()
    assert.truthy(project.messages[2]:find("does not cross", 1, true))
    assert.are.equal(0, #project.launched)
  end)
end)

describe("extend", function()
  it("right: the item grows to the right, the new take starts with it", function()
    local DD, project = setup()
    project.ext["daw-diffusion/extend"] = "3"
    local item = mock.add_item({file = wav_file("a.wav"), position = 8, length = 2, offset = 1, rate = 1.5})
    mock.select(item)
    DD.extend("right")
    local args = finish(project, 1, ok_json("/r/ext.wav", 6, 3))
    assert.are.same({"extend", "3", "right"}, {mock.value(args, "--task"), mock.value(args, "--seconds"),
                                                mock.value(args, "--direction")})
    mock.run_deferred()
    assert.are.same({8, 4}, {item.D_POSITION, item.D_LENGTH})  -- 3 s of source at rate 1.5 = 2 s more
    assert.are.equal("extend right 3.00 seed 3", item.takes[2].P_NAME)
  end)

  it("left: the item grows to the left and the other takes stay in time", function()
    local DD, project = setup()
    project.ext["daw-diffusion/extend"] = "2"
    local item = mock.add_item({file = wav_file("a.wav"), position = 8, length = 2, offset = 3, rate = 2})
    mock.select(item)
    DD.extend("left")
    finish(project, 1, ok_json("/r/ext.wav", 6, 3))
    mock.run_deferred()
    assert.are.same({7, 3}, {item.D_POSITION, item.D_LENGTH})
    assert.are.equal(1, item.takes[1].D_STARTOFFS)  -- 3 - 1 s * rate 2: same audio at the same time
    assert.are.equal(0, item.takes[2].D_STARTOFFS)
  end)

  it("in bars: sends the project's tempo and meter in the source's time, grows by the engine's length", function()
    local DD, project = setup({tempo = 96, timesig = {6, 8}})  -- 6/8: 192 eighths a minute, bars of 1.875 s
    DD.set("extend_bars", "2")
    local item = mock.add_item({file = wav_file("a.wav"), position = 2.5, length = 3, offset = 0, rate = 0.5})
    mock.select(item)
    DD.extend("right")
    local args = finish(project, 1, ok_json("/r/ext.wav", 1.5 + 1.875, 4))
    assert.are.equal("2", mock.value(args, "--bars"))
    assert.is_nil(mock.value(args, "--seconds"))
    assert.are.equal(384, tonumber(mock.value(args, "--bpm")))  -- the file plays at half speed: twice the tempo
    assert.are.equal("6", mock.value(args, "--beats-per-bar"))
    -- the next downbeat is at 3.75 s, 1.25 s into the item: 0.625 s into the half-speed slice
    assert.are.equal(0.625, tonumber(mock.value(args, "--beat-offset")))
    mock.run_deferred()
    assert.are.equal(3 + 3.75, item.D_LENGTH)  -- 1.875 s more of source at rate 0.5: two bars on the timeline
    assert.are.equal("extend right 2 bars seed 4", item.takes[2].P_NAME)
  end)

  it("left: refuses to grow past the project start", function()
    local DD, project = setup()
    mock.select(mock.add_item({file = wav_file("a.wav"), position = 1, length = 2}))
    DD.extend("left")
    assert.are.equal(0, #project.launched)
    assert.truthy(project.messages[1]:find("only 1.00 s before", 1, true))
  end)
end)

describe("vary", function()
  it("uses each task's own default strength, from the engine's table, until one is set", function()
    local DD, project = setup()
    local item = mock.add_item({file = wav_file("loop.wav"), length = 4})
    mock.select(item)
    DD.vary()
    DD.style()
    assert.are.equal(DD.ENGINE.tasks.vary.strength, tonumber(mock.value(mock.args(project.launched[1]), "--strength")))
    assert.are.equal(DD.ENGINE.tasks.style_transfer.strength,
                     tonumber(mock.value(mock.args(project.launched[2]), "--strength")))
    assert.are_not.equal(DD.ENGINE.tasks.vary.strength, DD.ENGINE.tasks.style_transfer.strength)
  end)

  it("sends each loop item's slice and adds a take of the same length", function()
    local DD, project = setup()
    DD.set("strength", "0.3")
    local item = mock.add_item({file = wav_file("loop.wav"), position = 2, length = 4, offset = 1})
    mock.select(item)
    DD.vary()
    local args = finish(project, 1, ok_json("/r/vary.wav", 4, 6))
    assert.are.same({"vary", "0.3", "4.000000000"}, {mock.value(args, "--task"), mock.value(args, "--strength"),
                                                     mock.value(args, "--length")})
    mock.run_deferred()
    assert.are.equal(2, #item.takes)
    assert.are.equal(4, item.D_LENGTH)  -- a loop keeps its length
    assert.are.equal("vary 0.30 seed 6", item.takes[2].P_NAME)
  end)
end)

describe("variations", function()
  it("starts N jobs with consecutive seeds and adds N takes", function()
    local DD, project = setup()
    project.ext["daw-diffusion/variations"] = "3"
    project.ext["daw-diffusion/seed"] = "40"
    local item = mock.add_item({file = wav_file("a.wav"), length = 2})
    mock.select(item)
    DD.variations()
    assert.are.equal(3, #project.launched)
    for n = 1, 3 do
      local args = finish(project, n, ok_json("/r/v" .. n .. ".wav", 2, 39 + n))
      assert.are.equal(tostring(39 + n), mock.value(args, "--seed"))
    end
    mock.run_deferred()
    assert.are.equal(4, #item.takes)
    assert.are.equal("var 3 style 0.50 seed 42", item.takes[4].P_NAME)  -- no strength set: style's own
    assert.are.equal(3, #project.undo)
  end)
end)

describe("generate and interpolate", function()
  it("generate fills the time selection on a new track at the project rate", function()
    local DD, project = setup({srate = 96000})
    mock.time_selection(12, 20)
    DD.generate()
    local args = finish(project, 1, ok_json("/r/gen.wav", 8, 5))
    assert.are.same({"generate", 8, "96000"}, {mock.value(args, "--task"), tonumber(mock.value(args, "--seconds")),
                                               mock.value(args, "--sample-rate")})
    mock.run_deferred()
    local track = project.tracks[#project.tracks]
    assert.are.equal("daw-diffusion", track.name)
    assert.are.same({12, 8}, {track.items[1].D_POSITION, track.items[1].D_LENGTH})
    assert.are.equal("generate seed 5", track.items[1].takes[1].P_NAME)
    assert.are.same({"daw-diffusion: generate"}, project.undo)
  end)

  it("interpolate needs two items and puts the blend on the selected track", function()
    local DD, project = setup()
    local a = mock.add_item({file = wav_file("a.wav"), position = 5, length = 2, offset = 1})
    local b = mock.add_item({file = wav_file("b.wav"), position = 3, length = 2, rate = 2, track_selected = true})
    mock.select(a)
    DD.interpolate()
    assert.truthy(project.messages[1]:find("exactly two", 1, true))
    mock.select(a, b)
    DD.interpolate()
    local args = finish(project, 1, ok_json("/r/int.wav", 2, 9))
    assert.are.same({1, 2, 0, 4}, {tonumber(mock.value(args, "--offset")), tonumber(mock.value(args, "--length")),
                                   tonumber(mock.value(args, "--offset-b")), tonumber(mock.value(args, "--length-b"))})
    mock.run_deferred()
    assert.are.equal(2, #b.track.items)
    assert.are.same({3, 2}, {b.track.items[2].D_POSITION, b.track.items[2].D_LENGTH})
  end)
end)

describe("settings, cancel and command lines", function()
  it("settings are validated and kept in ExtState, the prompt keeps its commas", function()
    local DD, project = setup({inputs = {"0.7,20,5,3,0.1,0.3,4,8,1,2,0.5,tcp://host:5557,/opt/dd bin/daw-diffusion",
                                         "strings, slow, warm"}})
    DD.settings()
    assert.are.same({"0.7", "20", "0.3", "8", "1", "/opt/dd bin/daw-diffusion", "strings, slow, warm"},
                    {DD.get("strength"), DD.get("steps"), DD.get("guide"), DD.get("extend_bars"), DD.get("snap"),
                     DD.get("cli"), DD.get("prompt")})
    project.inputs = {"loud,20,5,3,0.1,0.3,4,0,0,2,0.5,tcp://host:5557,cli"}
    DD.settings()
    assert.truthy(project.messages[1]:find("must be a number", 1, true))
    assert.are.equal("0.7", DD.get("strength"))
  end)

  it("settings for this project are kept in the project and come first while it is open", function()
    local DD, project = setup({inputs = {"0.7,20,5,3,0.1,0.3,4,8,1,2,0.5,tcp://host:5557,daw-diffusion", "",
                                         "0.2,12,5,3,0.1,0.3,4,8,1,2,0.5,tcp://host:5557,daw-diffusion", "drums"}})
    DD.settings()  -- every project's
    DD.settings(true)  -- this one's
    assert.are.same({"0.2", "12", "drums"}, {DD.get("strength"), DD.get("steps"), DD.get("prompt")})
    assert.are.same({"0.2", "0.7"}, {project.proj_ext["daw-diffusion/strength"], project.ext["daw-diffusion/strength"]})
    project.proj_ext = {}  -- another project: the user's settings again
    assert.are.same({"0.7", "20"}, {DD.get("strength"), DD.get("steps")})
  end)

  it("a project's damaged settings are named in one message, their defaults used and nothing changed", function()
    local DD, project = setup()
    project.proj_ext["daw-diffusion/steps"] = "many"
    project.proj_ext["daw-diffusion/crossfade"] = "wide"
    mock.select(mock.add_item({file = wav_file("a.wav"), length = 1}))
    DD.style()
    assert.are.equal(1, #project.messages)
    assert.truthy(project.messages[1]:find('not numbers, so their defaults are used: steps = "many", crossfade = "wide"',
                                           1, true), project.messages[1])
    local args = mock.args(project.launched[1])
    assert.is_nil(mock.value(args, "--steps"))  -- the engine's default
    assert.are.equal(tostring(DD.ENGINE.settings.crossfade), mock.value(args, "--crossfade"))
    assert.are.same({"many", "wide"}, {project.proj_ext["daw-diffusion/steps"], project.proj_ext["daw-diffusion/crossfade"]})
  end)

  it("quotes paths with spaces and shell characters", function()
    local DD, project = setup()
    local path = wav_file('odd $name "quoted" `x`.wav')
    mock.select(mock.add_item({file = path, length = 1}))
    DD.style()
    assert.are.equal(path, mock.value(mock.args(project.launched[1]), "--input"))
  end)

  it("windows command lines use ExecProcess without waiting", function()
    local project = mock.install({os = "Win64"})
    local DD = dofile(LIB)
    mock.select(mock.add_item({file = wav_file("a.wav"), length = 1}))
    DD.style()
    assert.are.equal(-2, project.exec[2])
    assert.truthy(project.exec[1]:find('"render"', 1, true))
  end)

  it("cancel touches the cancel file of every running job", function()
    local DD, project = style_one()
    DD.cancel_all()
    local cancel = mock.value(mock.args(project.launched[1]), "--cancel-file")
    assert.truthy(io.open(cancel, "r"))
    assert.truthy(project.messages[1]:find("Cancelling 1 job", 1, true))
  end)
end)

describe("engine status", function()
  it("asks `daw-diffusion status` in the background and says what the engine runs", function()
    local DD, project = setup()
    DD.set("engine", "tcp://10.1.1.1:5557")
    DD.status()
    local args = mock.args(project.launched[1])
    assert.are.same({"daw-diffusion", "status", "--engine", "tcp://10.1.1.1:5557", "--timeout", "3", "--result-file"},
                    {table.unpack(args, 1, 7)})
    assert.is_nil(mock.value(args, "--out-dir"))
    finish(project, 1, '{"ok": true, "engine": "tcp://10.1.1.1:5557", "version": "0.9.0", "protocol": 1, '
      .. '"model": "bundled", "device": "cpu", "queued": 1, "running": 1, "capacity": 16}')
    project.deferred[#project.deferred]()
    assert.matches("answers: daw%-diffusion 0.9.0, model bundled on cpu; 1 job%(s%) queued %(of 16%), 1 running",
                   project.messages[1])
  end)

  it("names the command that starts an engine that does not answer", function()
    local DD, project = setup()
    DD.status()
    finish(project, 1, '{"ok": false, "code": "unreachable", "message": "the engine at tcp://127.0.0.1:5557 is not '
      .. 'answering; start it with `daw-diffusion serve`"}')
    project.deferred[#project.deferred]()
    assert.matches("engine status failed.*not answering.*daw%-diffusion serve", project.messages[1])
  end)
end)

describe("every action script", function()
  it("loads the library next to it and runs its task", function()
    local expected = {
      ["Style transfer selected items"] = "Select one or more", ["Variations of selected items (N takes)"] = "Select one or more",
      ["Vary selected loop items"] = "Select one or more",
      ["Inpaint time selection in selected items"] = "time selection", ["Extend selected items (right)"] = "Select one or more",
      ["Extend selected items (left)"] = "Select one or more", ["Interpolate two selected items"] = "exactly two",
      ["Generate into time selection"] = "time selection", ["Cancel running jobs"] = "No daw-diffusion jobs",
      ["Settings"] = false, ["Settings for this project"] = false, ["Engine status"] = "defer",
    }
    local seen = 0
    for file in io.popen('ls reaper_scripts/*.lua'):lines() do
      local name = file:match("daw%-diffusion %- (.+)%.lua$")
      if name then
        local project = mock.install({script = file})
        dofile(file)
        local words = expected[name]
        assert.are_not.equal(nil, words, "an action without a test: " .. name)
        if words == "defer" then  -- it asks the engine in the background and waits in REAPER's loop
          assert.are.equal("defer", project.calls[#project.calls][1], name)
        elseif words then
          assert.truthy(project.messages[1] and project.messages[1]:find(words, 1, true), name)
        else
          assert.are.equal("GetUserInputs", project.calls[#project.calls][1])
        end
        seen = seen + 1
      end
    end
    assert.are.equal(12, seen)
  end)
end)
