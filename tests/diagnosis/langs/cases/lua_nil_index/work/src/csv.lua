local M = {}

-- Reads a CSV file with a header row into a list of records keyed by column name.
function M.read(path)
  local rows, header = {}, nil
  for line in io.lines(path) do
    local fields = {}
    for field in line:gmatch("[^,]+") do table.insert(fields, field) end
    if not header then
      header = fields
    else
      local row = {}
      for i, name in ipairs(header) do row[name] = fields[i] end
      table.insert(rows, row)
    end
  end
  return rows
end

return M
