#pragma once
#include <map>
#include <string>

struct SolverConfig {
    int nx = 0;
    double dt = 0.0;
    double t_end = 0.0;
    double alpha = 0.0;
};

std::map<std::string, std::string> read_ini(const std::string& path);
SolverConfig load_config(const std::string& path);
