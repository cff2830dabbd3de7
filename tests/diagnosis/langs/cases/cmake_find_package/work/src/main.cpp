#include <Eigen/Dense>
#include <iostream>

int main()
{
    const int n = 64;
    const double g = 9.81, dx = 1.0 / n, dt = 0.2 * dx;
    Eigen::VectorXd h = Eigen::VectorXd::Ones(n), hu = Eigen::VectorXd::Zero(n);
    h.segment(n / 2 - 4, 8).array() += 0.1;
    for (int step = 0; step < 100; step++) {
        Eigen::VectorXd hn = h, hun = hu;
        for (int i = 1; i < n - 1; i++) {
            hn[i] = 0.5 * (h[i - 1] + h[i + 1]) - dt / (2 * dx) * (hu[i + 1] - hu[i - 1]);
            auto flux = [&](int j) { return hu[j] * hu[j] / h[j] + 0.5 * g * h[j] * h[j]; };
            hun[i] = 0.5 * (hu[i - 1] + hu[i + 1]) - dt / (2 * dx) * (flux(i + 1) - flux(i - 1));
        }
        h = hn;
        hu = hun;
    }
    std::cout << "max h = " << h.maxCoeff() << "\n";
    return 0;
}
