package main

import (
	"fmt"

	"example.com/gridsim/pkg/grid"
)

func main() {
	f := grid.New(4, 4)
	for j := 0; j < 4; j++ {
		for i := 0; i < 4; i++ {
			f.Data[j*4+i] = float64(i + 10*j)
		}
	}
	fmt.Printf("%.2f\n", f.Bilinear(1.5, 2.25))
}
