#include <iostream>
#include "csr.hpp"

int main()
{
    const int n = 200;
    CsrMatrix a = laplacian_1d(n);
    std::vector<double> b(n, 1.0 / (n + 1) / (n + 1));
    CgResult res = conjugate_gradient(a, b, 1e-10, 1000);
    std::cout << "iterations " << res.iterations << ", residual " << res.residual
              << ", u(mid) = " << res.x[n / 2] << "\n";
    return 0;
}
