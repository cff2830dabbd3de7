package pool

import (
	"math"
	"testing"
)

func TestRunCollectsAllResults(t *testing.T) {
	inputs := []float64{1, 4, 9, 16, 25}
	sum := 0.0
	count := 0
	for r := range Run(3, inputs, math.Sqrt) {
		sum += r.Value
		count++
	}
	if count != len(inputs) || sum != 15 {
		t.Fatalf("got %d results summing to %v, want 5 summing to 15", count, sum)
	}
}
