use units::pressure::*;

#[test]
fn bar_is_100_kpa() {
    assert_eq!(bar_to_pa(1.0), 100_000.0);
}

#[test]
fn standard_atmosphere() {
    assert_eq!(atm_to_pa_rounded(0.0), 0);
    assert_eq!(atm_to_pa_rounded(1.0), 101_325);
}

#[test]
fn torr_roundtrip() {
    assert!((torr_to_pa(760.0) - PA_PER_ATM).abs() < 1e-9);
}
