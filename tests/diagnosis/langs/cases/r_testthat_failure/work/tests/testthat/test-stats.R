test_that("weighted mean matches the plain mean for equal weights", {
  x <- c(1, 2, 3)
  expect_equal(weighted_mean(x, c(1, 1, 1)), 2)
  w <- c(0.2, 0.3, 0.5)
  expect_equal(weighted_mean(x, w), 2.3)
})

test_that("weights must be non-negative", {
  expect_error(weighted_mean(1:2, c(1, -1)))
})
