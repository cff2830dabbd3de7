#ifndef HALO_H
#define HALO_H
#include <mpi.h>

/* u has nlocal interior cells plus one ghost cell on each side: u[0] and u[nlocal + 1]. */
void exchange_halo(MPI_Comm comm, double *u, int nlocal);

#endif
