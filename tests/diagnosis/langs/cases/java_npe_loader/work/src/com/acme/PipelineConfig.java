package com.acme;

public final class PipelineConfig {
    public final String inputDir;
    public final String outputDir;
    public final int batchSize;
    public final int workers;

    public PipelineConfig(String inputDir, String outputDir, int batchSize, int workers) {
        this.inputDir = inputDir;
        this.outputDir = outputDir;
        this.batchSize = batchSize;
        this.workers = workers;
    }
}
