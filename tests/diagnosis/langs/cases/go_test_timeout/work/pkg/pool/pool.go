// Package pool runs independent simulation tasks on a fixed number of workers.
package pool

import "sync"

// Result is the outcome of one task.
type Result struct {
	ID    int
	Value float64
}

// Run applies f to every input on n workers; results arrive in any order.
func Run(n int, inputs []float64, f func(float64) float64) <-chan Result {
	jobs := make(chan int)
	results := make(chan Result, len(inputs))
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results <- Result{ID: i, Value: f(inputs[i])}
			}
		}()
	}
	go func() {
		for i := range inputs {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
	}()
	return results
}
