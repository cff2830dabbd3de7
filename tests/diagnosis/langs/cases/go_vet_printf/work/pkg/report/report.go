// Package report writes the nightly throughput report of the cluster.
package report

import (
	"fmt"
	"io"
	"time"
)

// JobStats summarises the jobs of one partition.
type JobStats struct {
	Partition string
	Completed int
	Failed    int
	CPUHours  float64
	Wall      time.Duration
}

// Write prints one line per partition.
func Write(w io.Writer, stats []JobStats) {
	for _, s := range stats {
		fmt.Fprintf(w, "%-10s %6d done %4d failed %8d CPU-h %s\n",
			s.Partition, s.Completed, s.Failed, s.CPUHours, s.Wall)
	}
}
