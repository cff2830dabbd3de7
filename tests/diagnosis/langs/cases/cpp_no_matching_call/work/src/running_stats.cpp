#include "running_stats.hpp"

void RunningStats::add(double x)
{
    ++n_;
    double delta = x - mean_;
    mean_ += delta / static_cast<double>(n_);
    m2_ += delta * (x - mean_);
}

void RunningStats::add(const std::vector<double>& xs)
{
    for (double x : xs) add(x);
}
