#include <cstdio>
#include <cstdlib>
#include <vector>
#include "cuda_check.cuh"

__global__ void block_sum(const double* x, double* partial, int n)
{
    extern __shared__ double s[];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    s[threadIdx.x] = i < n ? x[i] : 0.0;
    __syncthreads();
    for (int off = blockDim.x / 2; off > 0; off >>= 1) {
        if (threadIdx.x < off)
            s[threadIdx.x] += s[threadIdx.x + off];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        partial[blockIdx.x] = s[0];
}

int main(int argc, char** argv)
{
    int n = argc > 1 ? std::atoi(argv[1]) : 1 << 20;
    const int block = 256, grid = (n + block - 1) / block;
    std::vector<double> x(n, 0.5), partial(grid);
    double *d_x, *d_partial;
    CUDA_CHECK(cudaMalloc(&d_x, n * sizeof(double)));
    CUDA_CHECK(cudaMalloc(&d_partial, grid * sizeof(double)));
    CUDA_CHECK(cudaMemcpy(d_x, x.data(), n * sizeof(double), cudaMemcpyHostToDevice));
    block_sum<<<grid, block, block * sizeof(double)>>>(d_x, d_partial, n);
    CUDA_CHECK(cudaGetLastError());
    CUDA_CHECK(cudaMemcpy(partial.data(), d_partial, grid * sizeof(double), cudaMemcpyDeviceToHost));
    double total = 0.0;
    for (double p : partial) total += p;
    std::printf("sum = %.1f (expected %.1f)\n", total, 0.5 * n);
    CUDA_CHECK(cudaFree(d_x));
    CUDA_CHECK(cudaFree(d_partial));
    return 0;
}
