#pragma once
#include <vector>

struct Particle {
    double x, y, vx, vy, mass;
};

class ParticleSystem {
public:
    void spawn(double x, double y, double vx, double vy, double mass);
    void step(double dt);
    double kinetic_energy() const;

private:
    std::vector<Particle> particles_;
    const Particle* central_ = nullptr;  // the heaviest body, the others orbit it
};
