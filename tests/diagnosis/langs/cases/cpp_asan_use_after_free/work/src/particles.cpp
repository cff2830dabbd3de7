#include <cmath>
#include "particles.hpp"

void ParticleSystem::spawn(double x, double y, double vx, double vy, double mass)
{
    particles_.push_back({x, y, vx, vy, mass});
    if (central_ == nullptr || mass > central_->mass)
        central_ = &particles_.back();
}

void ParticleSystem::step(double dt)
{
    const double cx = central_->x, cy = central_->y, gm = central_->mass;
    for (auto& p : particles_) {
        if (&p == central_)
            continue;
        double dx = p.x - cx, dy = p.y - cy;
        double r3 = std::pow(dx * dx + dy * dy, 1.5);
        p.vx -= dt * gm * dx / r3;
        p.vy -= dt * gm * dy / r3;
        p.x += dt * p.vx;
        p.y += dt * p.vy;
    }
}

double ParticleSystem::kinetic_energy() const
{
    double e = 0.0;
    for (const auto& p : particles_)
        e += 0.5 * p.mass * (p.vx * p.vx + p.vy * p.vy);
    return e;
}
