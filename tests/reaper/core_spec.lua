-- The DAW-neutral core alone, against a fake host (no `reaper` table anywhere): settings with
-- the engine's defaults, the CLI's command line, a job started, polled and finished, failures
-- told with their hint, a CLI that never starts, cancelling, and the JSON reader.

local mock = dofile("tests/reaper/mock_reaper.lua")  -- only its command-line parser
local CORE = "reaper_scripts/daw-diffusion_core.lua"

local function fake_host()
  local host = {state = {}, persisted = {}, messages = {}, deferred = {}, shown = {}, clock = 0,
                folder = os.tmpname() .. "-out", launched = {}}
  function host.load(key) return host.state[key] or "" end
  function host.store(key, value, persist)
    host.state[key] = value
    host.persisted[key] = persist
  end
  function host.message(text) host.messages[#host.messages + 1] = text end
  function host.os() return "Linux" end
  function host.make_dir(path) os.execute("mkdir -p '" .. path .. "'") end
  function host.run_detached(command) error("not on Linux: " .. command) end
  function host.now() return host.clock end
  function host.defer(fn) host.deferred[#host.deferred + 1] = fn end
  function host.out_dir() return host.folder end
  function host.show(jobs) host.shown[#host.shown + 1] = #jobs end
  return host
end

local function load_core()
  assert.is_nil(rawget(_G, "reaper"))
  local host = fake_host()
  local DD = dofile(CORE)(host)
  DD.launch = function(command) host.launched[#host.launched + 1] = command end
  return DD, host
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("the core under a fake host", function()
  before_each(function() _G.reaper = nil end)

  it("reads settings through the host, the engine's defaults where none is stored", function()
    local DD, host = load_core()
    assert.are.equal(tostring(DD.ENGINE.settings.crossfade), DD.get("crossfade"))
    assert.are.equal(DD.ENGINE.tasks.style_transfer.strength, DD.task_number("strength", "style_transfer"))
    DD.set("strength", 0.7)
    assert.are.equal("0.7", host.state.strength)
    assert.is_true(host.persisted.strength)
    assert.are.equal(0.7, DD.task_number("strength", "style_transfer"))
  end)

  it("stores a settings dialog only when every field is valid", function()
    local DD, host = load_core()
    local fields = {}
    for k, s in ipairs(DD.SETTINGS) do fields[k] = s[3] end
    fields[2] = "many"  -- steps
    assert.matches("Steps .* must be a number, not \"many\"", DD.apply_settings(fields))
    assert.is_nil(host.state.steps)
    assert.matches("commas", DD.apply_settings({"1", "2"}))
    fields[2] = "12"
    assert.is_nil(DD.apply_settings(fields))
    assert.are.equal("12", host.state.steps)
  end)

  it("starts a render, polls it, and hands its result over in the host's loop", function()
    local DD, host = load_core()
    local got
    DD.set("engine", "tcp://10.0.0.2:5557")
    local job = DD.start("style", {"--task", "style", "--input", "/a b/take.wav"}, function(r) got = r end)
    local args = mock.args(host.launched[1])
    assert.are.same({"daw-diffusion", "render", "--task", "style", "--input", "/a b/take.wav"},
                    {table.unpack(args, 1, 6)})
    assert.are.equal(host.folder, mock.value(args, "--out-dir"))
    assert.are.equal(job.cancel, host.state.running)  -- remembered for "cancel all", not persisted
    assert.is_false(host.persisted.running)
    DD.watch()
    assert.is_nil(got)
    assert.are.same({1}, host.shown)
    assert.are.equal(1, #host.deferred)
    write(job.progress, "0.5 sampling")
    DD.watch()
    assert.are.equal(0.5, job.fraction)
    assert.is_nil(job.engine)
    write(job.progress, "0.6 sampling\nengine 0.1.0, model bundled on cpu; 1 queued (of 8), 1 running\n")
    DD.watch()
    assert.are.equal(0.6, job.fraction)
    assert.are.equal("engine 0.1.0, model bundled on cpu; 1 queued (of 8), 1 running", job.engine)
    write(mock.value(args, "--result-file"), '{"ok": true, "outputs": [{"path": "/r/x.wav", "seed": 7}]}')
    DD.watch()
    assert.are.equal("/r/x.wav", got.outputs[1].path)
    assert.are.equal(3, #host.deferred)  -- no more polling once nothing runs
    assert.are.equal(0, host.shown[#host.shown])
    assert.are.equal("", host.state.running)
    assert.is_nil(io.open(job.result))  -- the job's files are gone
  end)

  it("tells a failure with the hint for its code, and a CLI that never starts", function()
    local DD, host = load_core()
    local job = DD.start("generate", {}, function() error("not for a failure") end)
    write(job.result, '{"ok": false, "code": "unreachable", "message": "no engine at tcp://127.0.0.1:5557"}')
    DD.watch()
    assert.matches("generate failed.*no engine.*daw%-diffusion serve", host.messages[1])
    local silent = DD.start("vary", {}, function() end)
    host.clock = 31
    DD.watch()
    assert.is_true(silent.done)
    assert.matches("did not start", host.messages[2])
  end)

  it("cancels every running job through its cancel file", function()
    local DD, host = load_core()
    local a = DD.start("style", {}, function() end)
    local b = DD.start("vary", {}, function() end)
    DD.cancel_all()
    assert.is_not_nil(io.open(a.cancel))
    assert.is_not_nil(io.open(b.cancel))
    assert.matches("Cancelling 2 job", host.messages[1])
    assert.are.equal("", host.state.running)
  end)

  it("reads the CLI's JSON line, and nothing from a broken one", function()
    local DD = load_core()
    local value = DD.json('{"ok": true, "outputs": [{"path": "C:\\\\r\\u00e9.wav", "seconds": 2.5e0}], "n": null}')
    assert.are.equal("C:\\ré.wav", value.outputs[1].path)
    assert.are.equal(2.5, value.outputs[1].seconds)
    assert.is_nil(DD.json('{"ok": tru'))
  end)
end)
