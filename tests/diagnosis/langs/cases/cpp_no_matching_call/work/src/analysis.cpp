#include <fstream>
#include <iostream>
#include <string>
#include "running_stats.hpp"

int main(int argc, char** argv)
{
    std::ifstream in(argc > 1 ? argv[1] : "timings.csv");
    RunningStats stats;
    std::string field;
    while (std::getline(in, field, ',')) {
        if (field.empty())
            continue;
        stats.add(field);
    }
    std::cout << "n=" << stats.count() << " mean=" << stats.mean()
              << " var=" << stats.variance() << "\n";
    return 0;
}
