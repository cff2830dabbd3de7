#include <stdio.h>
#include "decomp.h"

#define FAIL(comm, ...)                                                   \
    do {                                                                  \
        fprintf(stderr, "error at %s:%d: ", __FILE__, __LINE__);          \
        fprintf(stderr, __VA_ARGS__);                                     \
        fputc('\n', stderr);                                              \
        MPI_Abort((comm), 1);                                             \
    } while (0)

void decompose_rows(MPI_Comm comm, int n, int *first, int *count)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    /* the root checks the input, the others wait for its answer */
    if (rank == 0 && n % size != 0)
        FAIL(comm, "grid size %d is not divisible by %d ranks", n, size);
    MPI_Bcast(&n, 1, MPI_INT, 0, comm);
    *count = n / size;
    *first = rank * *count;
}
