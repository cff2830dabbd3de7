/// Peak positions of a spectrum: local maxima above `threshold`.
pub fn find_peaks(intensity: &[f64], threshold: f64) -> Vec<usize> {
    let mut peaks = Vec::new();
    for i in 1..intensity.len() - 1 {
        if intensity[i] > threshold && intensity[i] >= intensity[i - 1] && intensity[i] >= intensity[i + 1] {
            peaks.push(i);
        }
    }
    peaks
}

/// Full width of a peak at half its maximum, in samples (linear interpolation of the flanks).
pub fn fwhm(intensity: &[f64], peak: usize) -> f64 {
    let half = intensity[peak] / 2.0;
    let mut left = peak;
    while left > 0 && intensity[left] > half {
        left -= 1;
    }
    let mut right = peak;
    while intensity[right] > half {
        right += 1;
    }
    (right - left) as f64
}
