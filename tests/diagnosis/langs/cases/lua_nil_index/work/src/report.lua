package.path = "src/?.lua;" .. package.path

local stations = require("stations")

local all = stations.load(arg[1] or "data/stations.csv")
for _, id in ipairs({ "DE-BER", "DE-MUC", "DE-HAM" }) do
  print(stations.label(all, id))
end
