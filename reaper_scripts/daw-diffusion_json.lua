-- A tiny JSON reader for the CLI's one result line: `dofile(...)(text)` -> the value, or nil.

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

return function(text)
  local ok, value = pcall(json_value, text, 1)
  if ok then return value end
  return nil
end
