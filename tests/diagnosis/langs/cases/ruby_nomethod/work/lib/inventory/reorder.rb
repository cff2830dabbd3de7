module Inventory
  # Decides which reagents to reorder before they run out.
  class Reorder
    SAFETY_DAYS = 2

    def initialize(rows)
      @rows = rows
    end

    def days_left(row)
      on_hand = Integer(row["on_hand"])
      daily = row["daily_use"].to_f.nonzero? || row["daily_use"].succ
      on_hand / daily
    end

    def due
      @rows.select { |row| days_left(row) < Integer(row["lead_days"]) + SAFETY_DAYS }
           .map { |row| row["sku"] }
    end
  end
end
