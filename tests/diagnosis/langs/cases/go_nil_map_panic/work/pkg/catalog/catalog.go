// Package catalog collects observations per astronomical source.
package catalog

import "fmt"

// Observation is one photometric measurement.
type Observation struct {
	Source string
	MJD    float64
	Mag    float64
}

// Catalog groups observations by source name.
type Catalog struct {
	bySource map[string][]Observation
	filters  map[string]bool
}

// New returns a catalog that keeps only the given filters.
func New(filters ...string) *Catalog {
	c := &Catalog{filters: map[string]bool{}}
	for _, f := range filters {
		c.filters[f] = true
	}
	return c
}

// Add records an observation.
func (c *Catalog) Add(o Observation) {
	c.bySource[o.Source] = append(c.bySource[o.Source], o)
}

// Summary prints the number of observations per source.
func (c *Catalog) Summary() {
	for src, obs := range c.bySource {
		fmt.Printf("%-12s %d\n", src, len(obs))
	}
}
