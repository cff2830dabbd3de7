#pragma once
#include <vector>

// Compressed sparse row matrix.
struct CsrMatrix {
    int rows = 0;
    std::vector<int> row_ptr, col;
    std::vector<double> val;

    std::vector<double> multiply(const std::vector<double>& x) const;
};

CsrMatrix laplacian_1d(int n);

struct CgResult {
    std::vector<double> x;
    int iterations;
    double residual;
};

CgResult conjugate_gradient(const CsrMatrix& a, const std::vector<double>& b, double tol, int max_iter);
