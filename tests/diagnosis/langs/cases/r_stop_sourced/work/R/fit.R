# Four-parameter log-logistic dose response fitted by least squares.
fit_ic50 <- function(plate) {
  d <- plate[plate$dose_um > 0, ]
  f <- function(p) {
    pred <- p[1] + (p[2] - p[1]) / (1 + (d$dose_um / exp(p[3]))^p[4])
    sum((d$absorbance - pred)^2)
  }
  p <- optim(c(min(d$absorbance), max(d$absorbance), log(median(d$dose_um)), 1), f)$par
  exp(p[3])
}
