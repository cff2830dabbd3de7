#include <math.h>
#include <stdlib.h>
#include "cg.h"

static double dot(MPI_Comm comm, const double *a, const double *b, int n)
{
    double local = 0.0, global;
    for (int i = 0; i < n; i++) local += a[i] * b[i];
    MPI_Allreduce(&local, &global, 1, MPI_DOUBLE, MPI_SUM, comm);
    return global;
}

static void laplacian(MPI_Comm comm, const double *p, double *ap, int n)
{
    int rank, size;
    double lo = 0.0, hi = 0.0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int left = rank > 0 ? rank - 1 : MPI_PROC_NULL, right = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
    MPI_Sendrecv(&p[n - 1], 1, MPI_DOUBLE, right, 0, &lo, 1, MPI_DOUBLE, left, 0, comm, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&p[0], 1, MPI_DOUBLE, left, 1, &hi, 1, MPI_DOUBLE, right, 1, comm, MPI_STATUS_IGNORE);
    for (int i = 0; i < n; i++)
        ap[i] = 2.0 * p[i] - (i > 0 ? p[i - 1] : lo) - (i < n - 1 ? p[i + 1] : hi);
}

int cg_solve(MPI_Comm comm, int n, const double *b, double *x, double tol, int maxit)
{
    double *r = malloc(n * sizeof *r), *p = malloc(n * sizeof *p), *ap = malloc(n * sizeof *ap);
    for (int i = 0; i < n; i++) { x[i] = 0.0; r[i] = b[i]; p[i] = b[i]; }
    double rr = dot(comm, r, r, n), bb = rr;
    int it;
    for (it = 0; it < maxit && sqrt(rr / bb) > tol; it++) {
        laplacian(comm, p, ap, n);
        double alpha = rr / dot(comm, p, ap, n);
        for (int i = 0; i < n; i++) { x[i] += alpha * p[i]; r[i] -= alpha * ap[i]; }
        double rr_new = dot(comm, r, r, n);
        for (int i = 0; i < n; i++) p[i] = r[i] + rr_new / rr * p[i];
        rr = rr_new;
    }
    free(r); free(p); free(ap);
    return sqrt(rr / bb) <= tol ? it : -1;
}
