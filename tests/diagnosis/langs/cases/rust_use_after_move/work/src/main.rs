mod pipeline;

use pipeline::{process, Batch};

fn main() {
    let batches = vec![
        Batch { source: "sensor-a".into(), samples: vec![0.5, 0.7, 0.6] },
        Batch { source: "sensor-b".into(), samples: vec![1.1, 0.9] },
    ];
    for s in process(batches) {
        println!("{}: n={} mean={:.3}", s.source, s.n, s.mean);
    }
}
