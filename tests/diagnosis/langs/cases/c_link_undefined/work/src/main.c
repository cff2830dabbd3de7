#include <math.h>
#include <stdio.h>
#include "ode.h"

static void kepler(double t, const double *y, double *dydt, void *ctx)
{
    double r3 = pow(y[0] * y[0] + y[1] * y[1], 1.5);
    (void)t; (void)ctx;
    dydt[0] = y[2];
    dydt[1] = y[3];
    dydt[2] = -y[0] / r3;
    dydt[3] = -y[1] / r3;
}

int main(void)
{
    double y[4] = {1.0, 0.0, 0.0, 1.0};
    integrate_rk4(kepler, 0.0, 1e-3, 6283, y, 4, NULL);
    printf("x=%.6f y=%.6f\n", y[0], y[1]);
    return 0;
}
