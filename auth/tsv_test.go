package auth

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// readTSV returns the tab-separated lines of a test vector file, skipping
// empty lines and # comments; every line must have at least minCols
// columns.
func readTSV(t *testing.T, path string, minCols int) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) < minCols {
			t.Fatalf("%s: bad vector line %q", path, line)
		}
		rows = append(rows, cols)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}
