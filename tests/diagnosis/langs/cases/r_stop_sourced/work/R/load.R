# Reads a plate-reader export and checks that every well has a dose.
read_plate <- function(path) {
  plate <- read.csv(path, stringsAsFactors = FALSE)
  required <- c("well", "dose_um", "absorbance")
  missing_cols <- setdiff(required, names(plate))
  if (length(missing_cols) > 0)
    stop("missing columns in ", path, ": ", paste(missing_cols, collapse = ", "))
  if (anyNA(plate$dose_um))
    stop("wells without a dose: ", paste(plate$well[is.na(plate$dose_um)], collapse = ", "))
  plate
}
