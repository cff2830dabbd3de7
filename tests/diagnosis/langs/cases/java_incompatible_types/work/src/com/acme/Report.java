package com.acme;

public class Report {
    public static void main(String[] args) {
        int[] predicted = {1, 0, 1, 1, 0, 1};
        int[] actual = {1, 0, 0, 1, 0, 1};
        System.out.println("accuracy: " + Metrics.accuracy(predicted, actual));
        System.out.println("hits: " + Metrics.hits(predicted, actual));
    }
}
