local M = {}

-- Parses "key = v1, v2, ..." lines into { key = { v1, v2, ... } }.
function M.parse(path)
  local grid = {}
  for line in io.lines(path) do
    local key, values = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if key then
      grid[key] = {}
      for v in values:gmatch("[^,%s]+") do
        table.insert(grid[key], tonumber(v) or v)
      end
    end
  end
  return grid
end

return M
