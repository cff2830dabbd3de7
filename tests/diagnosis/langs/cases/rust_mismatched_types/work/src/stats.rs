/// Mean squared displacement of a trajectory of 3-D positions for one lag.
pub fn msd(traj: &[[f64; 3]], lag: usize) -> f64 {
    if lag >= traj.len() {
        return 0.0;
    }
    let pairs = traj.len() - lag;
    let mut total = 0.0;
    for i in 0..pairs {
        total += squared_distance(&traj[i], traj[i + lag]);
    }
    total / pairs as f64
}

fn squared_distance(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}
