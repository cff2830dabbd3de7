#ifndef STENCIL_H
#define STENCIL_H

/* One Jacobi sweep of the 1-D Laplace equation on n interior points plus two boundary values. */
double jacobi_sweep(const double *u, double *unew, int n);

#endif
