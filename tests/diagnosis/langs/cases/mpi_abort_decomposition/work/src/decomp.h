#ifndef DECOMP_H
#define DECOMP_H
#include <mpi.h>

/* Rows [*first, *first + *count) of an n x n grid owned by this rank (1-D slab decomposition). */
void decompose_rows(MPI_Comm comm, int n, int *first, int *count);

#endif
