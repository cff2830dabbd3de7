#include <fstream>
#include "check.hpp"
#include "config.hpp"

std::map<std::string, std::string> read_ini(const std::string& path)
{
    std::ifstream in(path);
    REQUIRE(in.good(), "cannot open " + path);
    std::map<std::string, std::string> kv;
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (line.empty() || line[0] == '#' || eq == std::string::npos)
            continue;
        kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return kv;
}

SolverConfig load_config(const std::string& path)
{
    auto kv = read_ini(path);
    SolverConfig cfg;
    cfg.nx = std::stoi(kv.at("nx"));
    cfg.dt = std::stod(kv.at("dt"));
    cfg.t_end = std::stod(kv.at("t_end"));
    cfg.alpha = std::stod(kv.at("alpha"));
    double dx = 1.0 / cfg.nx;
    // explicit Euler is stable only for alpha*dt/dx^2 <= 1/2
    REQUIRE(cfg.alpha * cfg.dt / (dx * dx) <= 0.5, "time step too large for stability");
    return cfg;
}
