#[derive(Debug)]
pub struct Batch {
    pub source: String,
    pub samples: Vec<f64>,
}

pub struct Summary {
    pub source: String,
    pub n: usize,
    pub mean: f64,
}

fn archive(batch: Batch) -> usize {
    // would write the raw samples to disk; returns the bytes written
    batch.samples.len() * std::mem::size_of::<f64>()
}

pub fn process(batches: Vec<Batch>) -> Vec<Summary> {
    let mut out = Vec::new();
    for batch in batches {
        let bytes = archive(batch);
        eprintln!("archived {bytes} bytes");
        let n = batch.samples.len();
        let mean = batch.samples.iter().sum::<f64>() / n as f64;
        out.push(Summary { source: batch.source, n, mean });
    }
    out
}
