#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include "decomp.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int n = argc > 1 ? atoi(argv[1]) : 128;
    int rank, first, count;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    decompose_rows(MPI_COMM_WORLD, n, &first, &count);
    printf("rank %d owns rows %d..%d\n", rank, first, first + count - 1);
    MPI_Finalize();
    return 0;
}
