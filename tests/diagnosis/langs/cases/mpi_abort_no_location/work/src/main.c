#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include "cg.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int n = argc > 1 ? atoi(argv[1]) : 400;
    int maxit = argc > 2 ? atoi(argv[2]) : 1000;
    int nlocal = n / size;
    double *b = malloc(nlocal * sizeof *b), *x = malloc(nlocal * sizeof *x);
    for (int i = 0; i < nlocal; i++) b[i] = 1.0 / n;
    int its = cg_solve(MPI_COMM_WORLD, nlocal, b, x, 1e-10, maxit);
    if (its < 0 && rank == 0) {
        fprintf(stderr, "CG did not converge in %d iterations\n", maxit);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    if (rank == 0)
        printf("converged in %d iterations\n", its);
    free(b); free(x);
    MPI_Finalize();
    return 0;
}
