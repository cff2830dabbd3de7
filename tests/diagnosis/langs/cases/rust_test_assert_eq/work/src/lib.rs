/// Pressure conversions used by the instrument readers.
pub mod pressure {
    pub const PA_PER_BAR: f64 = 1.0e5;
    pub const PA_PER_ATM: f64 = 101_325.0;
    pub const PA_PER_TORR: f64 = PA_PER_ATM / 760.0;

    pub fn bar_to_pa(bar: f64) -> f64 {
        bar * PA_PER_BAR
    }

    pub fn torr_to_pa(torr: f64) -> f64 {
        torr * PA_PER_TORR
    }

    /// Rounded to whole pascals, as written to the data files.
    pub fn atm_to_pa_rounded(atm: f64) -> i64 {
        (atm * PA_PER_BAR).round() as i64
    }
}
