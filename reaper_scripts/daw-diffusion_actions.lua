-- The REAPER actions: what each task sends for the selected items or time selection, and where
-- its results go. Loaded by daw-diffusion_lib.lua, which gives the helpers it needs.

return function(DD, in_undo_block, still_there, time_args)
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

-- One new take on each selected item: `task` at the Strength setting (or the task's own default).
local function retake(label, task, engine_task)
  local strength = DD.task_number("strength", engine_task)
  edit_items(label, function(_, src)
    return {{
      args = join(slice_args(task, src), {"--strength", strength, "--tag", task}, DD.common_args(DD.seed())),
      insert = function(item, s, result)
        DD.add_take(item, s, result.outputs[1], string.format("%s %.2f seed %d", task, strength, result.outputs[1].seed))
      end,
    }}
  end)
end

function DD.style()
  retake("style transfer", "style", "style_transfer")
end

-- A variation of each selected loop: a new take of exactly the same length that loops seamlessly.
function DD.vary()
  retake("vary", "vary", "vary")
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

function DD.status()
  DD.check_engine(function(result) DD.message(DD.describe_engine(result)) end)
end

-- The settings for every project, or (`project`) for this one only: kept in the project file,
-- they come first while it is open.
function DD.settings(project)
  local captions, values = {}, {}
  for _, s in ipairs(DD.SETTINGS) do
    captions[#captions + 1] = s[2]
    values[#values + 1] = DD.get(s[1])
  end
  local title = project and "daw-diffusion settings for this project" or "daw-diffusion settings"
  local ok, answer = reaper.GetUserInputs(title, #captions,
                                          table.concat(captions, ",") .. ",extrawidth=220", table.concat(values, ","))
  if not ok then return end
  local fields = {}
  for field in (answer .. ","):gmatch("([^,]*),") do fields[#fields + 1] = field end
  local refused = DD.apply_settings(fields, project)
  if refused then return DD.message(refused) end
  -- the prompt has a dialog of its own: one field keeps its commas
  local has_prompt, prompt = reaper.GetUserInputs("daw-diffusion prompt (empty: none)", 1,
                                                  "Prompt,extrawidth=320", DD.get("prompt"))
  if has_prompt then DD.set("prompt", prompt, project) end
end
end
