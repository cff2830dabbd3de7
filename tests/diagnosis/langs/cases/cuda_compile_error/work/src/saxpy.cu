#include "saxpy.cuh"

__global__ void saxpy_kernel(int n, float a, const float* x, float* y)
{
    // grid-stride loop: any launch size covers all n elements
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] = a * x[i] + y[i];
}

void saxpy(int n, float a, const float* d_x, float* d_y)
{
    const int block = 256;
    const int grid = 120;
    saxpy_kernel<<<grid, block>>>(n, a, d_x, d_y);
}
