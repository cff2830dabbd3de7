// Package stats has small robust statistics for the monitoring jobs.
package stats

import "sort"

// Quantile returns the q-quantile (0 <= q <= 1) of xs by linear interpolation
// between closest ranks. xs is not modified.
func Quantile(xs []float64, q float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s))
	lo := int(pos)
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	frac := pos - float64(lo)
	return s[lo] + frac*(s[lo+1]-s[lo])
}

// Median is the 0.5-quantile.
func Median(xs []float64) float64 { return Quantile(xs, 0.5) }
