#include "csr.hpp"

std::vector<double> CsrMatrix::multiply(const std::vector<double>& x) const
{
    std::vector<double> y(rows, 0.0);
    for (int i = 0; i < rows; i++)
        for (int k = row_ptr[i]; k < row_ptr[i + 1]; k++)
            y[i] += val[k] * x[col[k]];
    return y;
}

CsrMatrix laplacian_1d(int n)
{
    CsrMatrix a;
    a.rows = n;
    a.row_ptr.push_back(0);
    for (int i = 0; i < n; i++) {
        if (i > 0) { a.col.push_back(i - 1); a.val.push_back(-1.0); }
        a.col.push_back(i); a.val.push_back(2.0);
        if (i < n - 1) { a.col.push_back(i + 1); a.val.push_back(-1.0); }
        a.row_ptr.push_back(static_cast<int>(a.col.size()));
    }
    return a;
}
