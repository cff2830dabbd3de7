#include <iostream>
#include "particles.hpp"

int main()
{
    ParticleSystem sys;
    sys.spawn(0.0, 0.0, 0.0, 0.0, 1.0);      // sun
    sys.spawn(0.39, 0.0, 0.0, 1.60, 1.7e-7);  // mercury
    sys.spawn(1.0, 0.0, 0.0, 1.0, 3.0e-6);    // earth
    for (int i = 0; i < 1000; i++)
        sys.step(1e-3);
    std::cout << "E_kin = " << sys.kinetic_energy() << "\n";
    return 0;
}
