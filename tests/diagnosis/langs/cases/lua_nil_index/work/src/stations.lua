local csv = require("csv")

local M = {}

function M.load(path)
  local by_id = {}
  for _, row in ipairs(csv.read(path)) do
    by_id[row.id] = { name = row.name, lat = tonumber(row.lat), lon = tonumber(row.lon) }
  end
  return by_id
end

function M.label(stations, id)
  local s = stations[id]
  return string.format("%s (%.2f N, %.2f E)", s.name, s.lat, s.lon)
end

return M
