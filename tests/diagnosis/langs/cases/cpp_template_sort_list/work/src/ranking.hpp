#pragma once
#include <list>
#include <string>

struct Candidate {
    std::string name;
    double score;
};

// Sorts candidates by descending score and keeps the best k.
std::list<Candidate> top_k(std::list<Candidate> candidates, std::size_t k);
