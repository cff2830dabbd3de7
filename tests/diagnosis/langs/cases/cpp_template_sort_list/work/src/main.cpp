#include <iostream>
#include "ranking.hpp"

int main()
{
    std::list<Candidate> all = {{"ridge", 0.81}, {"lasso", 0.79}, {"gbm", 0.88}, {"knn", 0.70}};
    for (const auto& c : top_k(all, 2)) {
        std::cout << c.name << " " << c.score << "\n";
    }
    return 0;
}
