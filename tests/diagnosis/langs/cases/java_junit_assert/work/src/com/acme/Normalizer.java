package com.acme;

public final class Normalizer {
    private Normalizer() {}

    /** Scales values to [0, 1] by min-max normalization. */
    public static double[] minMax(double[] values) {
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (double v : values) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (values[i] - min) / max;
        }
        return out;
    }
}
