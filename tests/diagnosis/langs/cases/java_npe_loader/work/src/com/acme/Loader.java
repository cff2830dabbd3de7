package com.acme;

import java.io.FileReader;
import java.io.IOException;
import java.io.Reader;
import java.util.Properties;

public class Loader {
    private final String path;

    public Loader(String path) {
        this.path = path;
    }

    public PipelineConfig load() throws IOException {
        Properties props = new Properties();
        try (Reader in = new FileReader(path)) {
            props.load(in);
        }
        return parse(props);
    }

    private PipelineConfig parse(Properties props) {
        String input = props.getProperty("input.dir");
        String output = props.getProperty("output.dir");
        int batch = parseInt(props, "batch.size");
        int workers = parseInt(props, "num.workers");
        return new PipelineConfig(input, output, batch, workers);
    }

    private static int parseInt(Properties props, String key) {
        String raw = props.getProperty(key);
        return Integer.parseInt(raw.trim());
    }
}
