package com.acme;

import java.util.List;

public class App {
    public static void main(String[] args) {
        List<double[]> rows = CsvReader.read(args.length > 0 ? args[0] : "data/samples.csv");
        double total = 0.0;
        int count = 0;
        for (double[] row : rows) {
            total += row[1];
            count++;
        }
        double mean = total / cnt;
        System.out.printf("rows=%d mean=%.4f%n", count, mean);
    }
}
