#include <hdf5.h>
#include <hdf5_hl.h>
#include <stdlib.h>

int main(void)
{
    enum { NX = 128, NY = 64 };
    double *rho = malloc(sizeof(double) * NX * NY);
    for (int i = 0; i < NX * NY; i++)
        rho[i] = 1.0 + 0.01 * (i % NX);
    hid_t file = H5Fcreate("snapshot_0000.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {NY, NX};
    H5LTmake_dataset_double(file, "/density", 2, dims, rho);
    H5Fclose(file);
    free(rho);
    return 0;
}
