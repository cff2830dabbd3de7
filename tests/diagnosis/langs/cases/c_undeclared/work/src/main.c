#include <stdio.h>

double residual(const double *x, int n);

int main(void)
{
    double x[3] = {1.0, 2.0, 3.0};
    printf("%f\n", residual(x, 3));
    return 0;
}
