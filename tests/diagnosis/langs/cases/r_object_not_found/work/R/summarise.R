# Median wall time of each configuration relative to the reference configuration.
relative_walltime <- function(runs, reference = "baseline") {
  ref_time <- median(runs$walltime[runs$config == reference])
  by_cfg <- split(runs$walltime, runs$config)
  vapply(by_cfg, function(w) median(w) / ref_tme, numeric(1))
}

speedup_table <- function(runs) {
  rel <- relative_walltime(runs)
  data.frame(config = names(rel), speedup = round(1 / rel, 2), row.names = NULL)
}
