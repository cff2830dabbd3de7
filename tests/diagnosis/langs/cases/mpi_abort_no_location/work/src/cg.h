#ifndef CG_H
#define CG_H
#include <mpi.h>

/* Conjugate gradients for the 1-D Laplacian, rows distributed over comm; returns iterations or -1. */
int cg_solve(MPI_Comm comm, int nlocal, const double *b, double *x, double tol, int maxit);

#endif
