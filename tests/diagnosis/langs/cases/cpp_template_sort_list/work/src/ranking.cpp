#include <algorithm>
#include "ranking.hpp"

namespace {
bool by_score(const Candidate& a, const Candidate& b)
{
    return a.score > b.score;
}
}  // namespace

std::list<Candidate> top_k(std::list<Candidate> candidates, std::size_t k)
{
    // best first
    if (candidates.size() <= 1) {
        return candidates;
    }
    std::sort(candidates.begin(), candidates.end(), by_score);
    if (candidates.size() > k) {
        candidates.resize(k);
    }
    return candidates;
}
