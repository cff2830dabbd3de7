require "minitest/autorun"
require "units"

class UnitsTest < Minitest::Test
  def test_dilution_volume
    assert_in_delta 10.0, Units.dilution_volume(1.0, 0.01, 1000.0), 1e-9
  end

  def test_millimolar_to_micromolar
    assert_in_delta 2500.0, Units.convert(2.5, "mM", "uM"), 1e-6
  end

  def test_unknown_unit
    assert_raises(KeyError) { Units.convert(1.0, "pM", "M") }
  end
end
