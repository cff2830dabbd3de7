# Weighted mean and variance of repeated measurements (weights need not sum to 1).
weighted_mean <- function(x, w) {
  stopifnot(length(x) == length(w), all(w >= 0))
  sum(x * w) / length(x)
}

weighted_var <- function(x, w) {
  m <- weighted_mean(x, w)
  sum(w * (x - m)^2) / sum(w)
}
