package main

import (
	"bufio"
	"log"
	"os"
	"strconv"
	"strings"

	"example.com/catalog/pkg/catalog"
)

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	cat := catalog.New("g", "r")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ",")
		if len(fields) < 3 || fields[0] == "source" {
			continue
		}
		mjd, _ := strconv.ParseFloat(fields[1], 64)
		mag, _ := strconv.ParseFloat(fields[2], 64)
		cat.Add(catalog.Observation{Source: fields[0], MJD: mjd, Mag: mag})
	}
	cat.Summary()
}
