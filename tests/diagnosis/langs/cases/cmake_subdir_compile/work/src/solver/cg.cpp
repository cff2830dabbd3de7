#include <cmath>
#include "csr.hpp"

namespace {
double dot(const std::vector<double>& a, const std::vector<double>& b)
{
    double s = 0.0;
    for (std::size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
    return s;
}
}  // namespace

CgResult conjugate_gradient(const CsrMatrix& a, const std::vector<double>& b, double tol, int max_iter)
{
    std::vector<double> x(b.size(), 0.0), r = b, p = b;
    double rr = dot(r, r);
    const double bb = rr;
    int it = 0;
    for (; it < max_iter && std::sqrt(rr / bb) > tol; it++) {
        std::vector<double> ap = a.multiply(p);
        double alpha = rr / dot(p, ap);
        for (std::size_t i = 0; i < x.size(); i++) {
            x[i] += alpha * p;
            r[i] -= alpha * ap[i];
        }
        double rr_new = dot(r, r);
        for (std::size_t i = 0; i < p.size(); i++) p[i] = r[i] + (rr_new / rr) * p[i];
        rr = rr_new;
    }
    return {x, it, std::sqrt(rr / bb)};
}
