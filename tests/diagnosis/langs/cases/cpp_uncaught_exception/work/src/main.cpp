#include <iostream>
#include "config.hpp"

int main(int argc, char** argv)
{
    SolverConfig cfg = load_config(argc > 1 ? argv[1] : "run.ini");
    std::cout << "nx=" << cfg.nx << " dt=" << cfg.dt << " steps=" << cfg.t_end / cfg.dt << "\n";
    return 0;
}
