mod stats;

fn main() {
    let traj: Vec<[f64; 3]> = (0..100)
        .map(|t| {
            let t = t as f64 * 0.1;
            [t.cos(), t.sin(), 0.05 * t]
        })
        .collect();
    for lag in [1, 5, 10, 50] {
        println!("lag {lag:3}: msd = {:.5}", stats::msd(&traj, lag));
    }
}
