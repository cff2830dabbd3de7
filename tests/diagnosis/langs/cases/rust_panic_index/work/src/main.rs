use spectra::{find_peaks, fwhm};

fn main() {
    // a Gaussian line near the right edge of the detector
    let intensity: Vec<f64> = (0..64)
        .map(|i| {
            let x = (i as f64 - 60.0) / 4.0;
            100.0 * (-0.5 * x * x).exp() + 1.0
        })
        .collect();
    for p in find_peaks(&intensity, 10.0) {
        println!("peak at {p}: fwhm = {:.1}", fwhm(&intensity, p));
    }
}
