# batch mode: print where an error came from, then fail the job
options(keep.source = TRUE, error = function() {
  traceback(2)
  quit(status = 1)
})
source("R/load.R")
source("R/fit.R")

plate <- read_plate("data/plate_07.csv")
cat(sprintf("IC50 = %.2f uM\n", fit_ic50(plate)))
