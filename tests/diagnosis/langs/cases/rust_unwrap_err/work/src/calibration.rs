/// A linear detector calibration: energy = gain * channel + offset.
pub struct Calibration {
    pub gain: f64,
    pub offset: f64,
}

/// Parses `gain,offset` lines; the last one wins.
pub fn parse(text: &str) -> Calibration {
    let mut cal = Calibration { gain: 1.0, offset: 0.0 };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut fields = line.split(',');
        cal.gain = fields.next().unwrap().trim().parse().unwrap();
        cal.offset = fields.next().unwrap_or("0").trim().parse().unwrap();
    }
    cal
}
