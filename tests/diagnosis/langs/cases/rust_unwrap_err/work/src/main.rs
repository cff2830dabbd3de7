mod calibration;

use std::env;
use std::fs;

fn main() {
    let path = env::args().nth(1).unwrap_or_else(|| "calibration.csv".into());
    let text = fs::read_to_string(&path).expect("cannot read the calibration file");
    let cal = calibration::parse(&text);
    for channel in [0, 512, 1023] {
        println!("channel {channel}: {:.2} keV", cal.gain * channel as f64 + cal.offset);
    }
}
