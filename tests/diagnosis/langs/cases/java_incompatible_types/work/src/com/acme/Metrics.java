package com.acme;

public final class Metrics {
    private Metrics() {}

    public static int hits(int[] predicted, int[] actual) {
        int hits = 0;
        for (int i = 0; i < predicted.length; i++) {
            if (predicted[i] == actual[i]) hits++;
        }
        // accuracy as a fraction; the result was meant to be a double
        int ratio = (double) hits / predicted.length;
        return hits;
    }

    public static double accuracy(int[] predicted, int[] actual) {
        return (double) hits(predicted, actual) / predicted.length;
    }
}
