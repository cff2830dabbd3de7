package com.acme;

import java.io.IOException;

public class Main {
    public static void main(String[] args) throws IOException {
        String path = args.length > 0 ? args[0] : "conf/pipeline.properties";
        PipelineConfig config = new Loader(path).load();
        System.out.println("batch size " + config.batchSize + ", workers " + config.workers);
    }
}
