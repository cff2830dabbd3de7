#ifndef HISTOGRAM_H
#define HISTOGRAM_H

typedef struct {
    double lo, hi;
    int nbins;
    long *counts;
} histogram;

histogram *histogram_new(double lo, double hi, int nbins);
void histogram_add(histogram *h, double x);
void histogram_free(histogram *h);

#endif
