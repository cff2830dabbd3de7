package main

import (
	"os"
	"time"

	"example.com/reporting/pkg/report"
)

func main() {
	report.Write(os.Stdout, []report.JobStats{
		{Partition: "gpu", Completed: 812, Failed: 17, CPUHours: 10452.5, Wall: 23 * time.Hour},
		{Partition: "cpu", Completed: 5120, Failed: 63, CPUHours: 88110.25, Wall: 24 * time.Hour},
	})
}
