#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include "histogram.h"

histogram *histogram_new(double lo, double hi, int nbins)
{
    histogram *h = malloc(sizeof *h);
    h->lo = lo;
    h->hi = hi;
    h->nbins = nbins;
    h->counts = calloc(nbins, sizeof *h->counts);
    return h;
}

static int bin_of(const histogram *h, double x)
{
    return (int)floor((x - h->lo) / (h->hi - h->lo) * h->nbins);
}

void histogram_add(histogram *h, double x)
{
    int bin = bin_of(h, x);
    assert(bin >= 0 && bin < h->nbins);
    h->counts[bin]++;
}

void histogram_free(histogram *h)
{
    free(h->counts);
    free(h);
}
