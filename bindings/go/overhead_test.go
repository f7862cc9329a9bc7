package drift

import (
	"os"
	"testing"
)

// BenchmarkSearchCallOverhead measures one search through the Go binding on the
// collection examples/call_overhead.rs creates; set DRIFT_BENCH_DB to its directory.
func BenchmarkSearchCallOverhead(b *testing.B) {
	dir := os.Getenv("DRIFT_BENCH_DB")
	if dir == "" {
		b.Skip("skipped: DRIFT_BENCH_DB not set (scripts/bench-call-overhead.sh sets it)")
	}
	db, err := Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	c, err := db.Collection("overhead")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const rows, dim = 1000, 16
	queries := make([][]float32, rows)
	for i := range queries {
		queries[i] = make([]float32, dim)
		for j := range queries[i] {
			queries[i][j] = float32((i*31+j*17)%97) / 97.0
		}
	}
	opts := SearchOptions{K: 10}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Search(queries[i%rows], opts); err != nil {
			b.Fatal(err)
		}
	}
}
