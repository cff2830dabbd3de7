#include <stdio.h>
#include <stdlib.h>
#include "stencil.h"

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 64;
    int iters = argc > 2 ? atoi(argv[2]) : 100;
    double *u = calloc(n + 2, sizeof *u);
    double *unew = calloc(n + 2, sizeof *unew);
    u[n + 1] = 1.0;
    double change = 0.0;
    for (int it = 0; it < iters; it++) {
        change = jacobi_sweep(u, unew, n);
        double *t = u; u = unew; unew = t;
    }
    printf("n=%d iters=%d last change=%g\n", n, iters, change);
    free(u);
    free(unew);
    return 0;
}
