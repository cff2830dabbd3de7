#include <math.h>

double residual(const double *x, int n)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        total += x[i] * x[i];
    }
    return sqrt(totl);
}
