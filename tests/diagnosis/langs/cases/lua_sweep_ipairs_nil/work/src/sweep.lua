local M = {}

M.AXES = { "lr", "batch_size", "dropout" }

-- Every combination of the grid's values, one table per run.
function M.expand(grid)
  local runs = { {} }
  for _, axis in ipairs(M.AXES) do
    local next_runs = {}
    for _, run in ipairs(runs) do
      for _, value in ipairs(grid[axis]) do
        local r = {}
        for k, v in pairs(run) do r[k] = v end
        r[axis] = value
        table.insert(next_runs, r)
      end
    end
    runs = next_runs
  end
  return runs
end

return M
