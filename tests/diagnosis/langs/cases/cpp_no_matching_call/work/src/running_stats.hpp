#pragma once
#include <cstddef>
#include <vector>

// Welford's online mean and variance.
class RunningStats {
public:
    void add(double x);
    void add(const std::vector<double>& xs);
    double mean() const { return mean_; }
    double variance() const { return n_ > 1 ? m2_ / static_cast<double>(n_ - 1) : 0.0; }
    std::size_t count() const { return n_; }

private:
    std::size_t n_ = 0;
    double mean_ = 0.0;
    double m2_ = 0.0;
};
