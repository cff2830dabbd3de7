package com.acme;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

public class FeatureExtractor {
    record Event(String user, String kind, long durationMs) {}

    static List<Event> parse(List<String> lines) {
        return lines.stream()
                .skip(1)
                .map(line -> Arrays.asList(line.split("\t")))
                .map(cols -> new Event(cols.get(0), cols.get(1), Long.parseLong(cols.get(2))))
                .collect(Collectors.toList());
    }

    static Map<String, Double> meanDurationByUser(List<Event> events) {
        return events.stream()
                .collect(Collectors.groupingBy(Event::user,
                        Collectors.averagingLong(Event::durationMs)));
    }

    public static void main(String[] args) throws IOException {
        List<String> lines = Files.readAllLines(Path.of(args[0]));
        Map<String, Double> means = meanDurationByUser(parse(lines));
        means.forEach((user, mean) -> System.out.printf("%s\t%.1f%n", user, mean));
    }
}
