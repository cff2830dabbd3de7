#pragma once

// y = a * x + y on the device, n elements.
void saxpy(int n, float a, const float* d_x, float* d_y);
