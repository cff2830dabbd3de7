#include <stdio.h>
#include "histogram.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    histogram *h = histogram_new(0.0, 10.0, 20);
    double e;
    while (fscanf(in, "%lf", &e) == 1)
        histogram_add(h, e);
    fclose(in);
    for (int i = 0; i < h->nbins; i++)
        printf("%5.2f %ld\n", h->lo + i * (h->hi - h->lo) / h->nbins, h->counts[i]);
    histogram_free(h);
    return 0;
}
