#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include "halo.h"

static double *alloc_field(int nlocal, int rank)
{
    /* only the root needs the initial condition buffer */
    if (rank != 0)
        return NULL;
    return calloc(nlocal + 2, sizeof(double));
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    int nlocal = n / size;
    double *u = alloc_field(nlocal, rank);
    for (int i = 1; i <= nlocal; i++)
        u[i] = sin(M_PI * (rank * nlocal + i - 1) / n);
    exchange_halo(MPI_COMM_WORLD, u, nlocal);
    if (rank == 0)
        printf("u[1] = %f, ghost = %f\n", u[1], u[nlocal + 1]);
    free(u);
    MPI_Finalize();
    return 0;
}
