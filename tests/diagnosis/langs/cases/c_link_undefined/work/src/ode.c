#include <stdlib.h>
#include "ode.h"

void integrate_rk45(rhs_fn f, double t0, double h, int nsteps, double *y, int n, void *ctx)
{
    double *k1 = malloc(4 * n * sizeof *k1), *k2 = k1 + n, *k3 = k2 + n, *k4 = k3 + n;
    double *tmp = malloc(n * sizeof *tmp);
    double t = t0;
    for (int s = 0; s < nsteps; s++, t += h) {
        f(t, y, k1, ctx);
        for (int i = 0; i < n; i++) tmp[i] = y[i] + 0.5 * h * k1[i];
        f(t + 0.5 * h, tmp, k2, ctx);
        for (int i = 0; i < n; i++) tmp[i] = y[i] + 0.5 * h * k2[i];
        f(t + 0.5 * h, tmp, k3, ctx);
        for (int i = 0; i < n; i++) tmp[i] = y[i] + h * k3[i];
        f(t + h, tmp, k4, ctx);
        for (int i = 0; i < n; i++) y[i] += h / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    }
    free(tmp);
    free(k1);
}
