# Summary statistics for a list of measurements.
module Summary
  def self.describe(values)
    sorted = values.sort
    n = sorted.size
    median = if n.odd?
               sorted[n / 2]
             else
               (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    mean = values.sum / n
    { n: n, mean: mean, median: median, min: sorted.first, max: sorted.last }
  end
end
