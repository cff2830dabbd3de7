package.path = "src/?.lua;" .. package.path

local config = require("config")
local sweep = require("sweep")

local grid = config.parse(arg[1] or "data/sweep.cfg")
local runs = sweep.expand(grid)
for i, run in ipairs(runs) do
  print(string.format("run %02d  lr=%g batch=%d dropout=%.1f", i, run.lr, run.batch_size, run.dropout))
end
