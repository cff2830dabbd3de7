source(file.path("..", "..", "R", "stats.R"))
