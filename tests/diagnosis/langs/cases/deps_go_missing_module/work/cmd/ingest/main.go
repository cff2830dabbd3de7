package main

import (
	"fmt"
	"os"

	"github.com/segmentio/parquet-go"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: ingest FILE")
		os.Exit(2)
	}
	rows, err := parquet.ReadFile[map[string]any](os.Args[1])
	fmt.Println(len(rows), err)
}
