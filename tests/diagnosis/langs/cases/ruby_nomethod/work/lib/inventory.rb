require "csv"
require_relative "inventory/reorder"

module Inventory
  def self.load(path)
    CSV.read(path, headers: true).map(&:to_h)
  end
end
