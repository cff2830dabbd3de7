#ifndef ODE_H
#define ODE_H

typedef void (*rhs_fn)(double t, const double *y, double *dydt, void *ctx);

/* Advance y (n components) from t0 by nsteps classical Runge-Kutta steps of size h. */
void integrate_rk4(rhs_fn f, double t0, double h, int nsteps, double *y, int n, void *ctx);

#endif
