# Converts concentrations between common lab units.
module Units
  MOLAR = { "M" => 1.0, "mM" => 1e-3, "uM" => 1e-6, "nM" => 1e-9 }.freeze

  def self.convert(value, from, to)
    value * MOLAR.fetch(from) * MOLAR.fetch(to)
  end

  def self.dilution_volume(stock, target, final_volume)
    target * final_volume / stock
  end
end
