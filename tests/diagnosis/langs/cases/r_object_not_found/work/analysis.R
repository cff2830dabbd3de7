options(keep.source = TRUE, show.error.locations = TRUE)
source("R/summarise.R")

runs <- read.csv("data/benchmarks.csv", stringsAsFactors = FALSE)
cat("read", nrow(runs), "runs\n")
tab <- speedup_table(runs)
print(tab[order(-tab$speedup), ])
