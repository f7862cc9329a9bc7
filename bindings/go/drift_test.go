package drift

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func vec(seed, i, dim int) []float32 {
	v := make([]float32, dim)
	for j := range v {
		v[j] = float32((seed*131+i*31+j*7)%101)/101.0 + float32(seed)
	}
	return v
}

func TestLifecyclePersistsAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.CreateCollection("docs", 4, L2)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := c.Add([]Posting{
		{DocumentID: IDFromUint64(7), Start: 0, Length: 10, Vector: []float32{1, 0, 0, 0}},
		{DocumentID: IDFromUint64(7), Start: 10, Length: 5, Vector: []float32{0, 1, 0, 0}},
		{DocumentID: IDFromUint64(9), Vector: []float32{0, 0, 1, 0}},
	})
	if err != nil || len(ids) != 3 || ids[2].Uint64() != 9 {
		t.Fatalf("add: %v %v", ids, err)
	}
	gen, err := c.Add([]Posting{{Vector: []float32{0, 0, 0, 1}}})
	if err != nil || gen[0].IsZero() {
		t.Fatalf("generated id: %v %v", gen, err)
	}
	hits, err := c.Search([]float32{0.9, 0.1, 0, 0}, SearchOptions{K: 2})
	if err != nil || len(hits) != 2 || hits[0].DocumentID.Uint64() != 7 || hits[0].Length != 10 {
		t.Fatalf("search: %+v %v", hits, err)
	}
	one, err := c.Search([]float32{0.9, 0.1, 0, 0}, SearchOptions{K: 2, OnePerDocument: true})
	if err != nil || one[1].DocumentID.Uint64() == 7 {
		t.Fatalf("one per document: %+v %v", one, err)
	}
	probed, err := c.Search([]float32{0.9, 0.1, 0, 0}, SearchOptions{K: 1, NProbe: 4, RerankFactor: 2})
	if err != nil || probed[0].DocumentID.Uint64() != 7 {
		t.Fatalf("search with nprobe: %+v %v", probed, err)
	}
	patient, err := c.Search([]float32{0.9, 0.1, 0, 0}, SearchOptions{K: 1, NProbe: 4, ProbePatience: 2})
	if err != nil || patient[0].DocumentID.Uint64() != 7 {
		t.Fatalf("search with probe patience: %+v %v", patient, err)
	}
	if _, err := c.Search([]float32{1, 0, 0, 0}, SearchOptions{K: 1, ProbePatience: -1}); err == nil {
		t.Fatal("a negative probe patience must be refused")
	}
	if _, err := c.Search([]float32{1, 0, 0, 0}, SearchOptions{K: 1, RerankFactor: 5000}); err == nil {
		t.Fatal("a rerank factor above 1000 must be refused")
	}
	batch, err := c.SearchBatch([][]float32{{1, 0, 0, 0}, {0, 0, 1, 0}}, SearchOptions{K: 1})
	if err != nil || batch[1][0].DocumentID.Uint64() != 9 {
		t.Fatalf("batch: %+v %v", batch, err)
	}
	if err := c.Upsert(IDFromUint64(7), []Posting{{Vector: []float32{0, 1, 1, 0}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(IDFromUint64(9)); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.Compact(); err != nil {
		t.Fatal(err)
	}
	if err := db.Maintain(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}

	db, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names, err := db.Collections()
	if err != nil || len(names) != 1 || names[0] != "docs" {
		t.Fatalf("collections: %v %v", names, err)
	}
	c, err = db.Collection("docs")
	if err != nil || c.Dimension() != 4 {
		t.Fatalf("open collection: %v", err)
	}
	defer c.Close()
	all, err := c.Search([]float32{0, 0, 0, 0}, SearchOptions{K: 10})
	if err != nil || len(all) != 2 {
		t.Fatalf("after reopen: %+v %v", all, err)
	}
	st, err := c.Stats()
	if err != nil || st.ShardRows == 0 {
		t.Fatalf("stats: %+v %v", st, err)
	}
}

func TestErrorsCarryTheirCode(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := db.CreateCollection("c", 3, Cosine)
	if _, err := c.Add([]Posting{{DocumentID: IDFromUint64(1), Vector: []float32{1, 2}}}); !errors.Is(err, ErrDimensionMismatch) {
		t.Errorf("wrong dimension: %v", err)
	}
	nan := float32(math.NaN())
	_, err = c.Add([]Posting{{DocumentID: IDFromUint64(1), Vector: []float32{1, nan, 0}}})
	var de *Error
	if !errors.As(err, &de) || de.Code != CodeNonFinite || de.Message == "" {
		t.Errorf("NaN: %v", err)
	}
	if _, err := c.Search([]float32{1, 0, 0}, SearchOptions{K: 0}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("k = 0: %v", err)
	}
	if _, err := db.Collection("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown collection: %v", err)
	}
	if _, err := db.CreateCollection("c", 3, Cosine); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrLocked) {
		t.Errorf("second open: %v", err)
	}
	db.Close()
	if _, err := c.Search([]float32{1, 0, 0}, SearchOptions{K: 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
	c.Close()
	c.Close()
}

func TestConcurrentGoroutinesSeeAcknowledgedWrites(t *testing.T) {
	db, err := Open(t.TempDir(), &Options{MemtableFlushBytes: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const dim, batches, rows = 8, 200, 4
	c, err := db.CreateCollection("c", dim, L2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var acked atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := 0; b < batches; b++ {
			ps := make([]Posting, rows)
			for r := range ps {
				ps[r] = Posting{DocumentID: IDFromUint64(uint64(b*rows + r + 1)), Vector: vec(b, r, dim)}
			}
			if _, err := c.Add(ps); err != nil {
				t.Error(err)
				return
			}
			acked.Store(int64(b + 1))
		}
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; acked.Load() < batches; i++ {
				n := int(acked.Load())
				if n == 0 {
					continue
				}
				b, r := (i*7+g)%n, i%rows
				hits, err := c.Search(vec(b, r, dim), SearchOptions{K: 1})
				if err != nil || len(hits) != 1 || hits[0].DocumentID.Uint64() != uint64(b*rows+r+1) || hits[0].Distance != 0 {
					t.Errorf("acknowledged posting %d/%d not found: %+v %v", b, r, hits, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

// An indexed collection (4,096 rows of 160-d, the default index threshold) answers
// with the same hits whether re-ranked vectors are mapped or read with pread.
func TestPreadVectorsAnswerAsMappedReads(t *testing.T) {
	const rows, dim = 4096, 160
	dir := filepath.Join(t.TempDir(), "db")
	searchAll := func(c *Collection) [][]Hit {
		var all [][]Hit
		for q := 0; q < 20; q++ {
			hits, err := c.Search(vec(q%16, q*97, dim), SearchOptions{K: 10, NProbe: 6})
			if err != nil || len(hits) != 10 {
				t.Fatalf("query %d: %d hits, %v", q, len(hits), err)
			}
			all = append(all, hits)
		}
		return all
	}
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.CreateCollection("wide", dim, L2)
	if err != nil {
		t.Fatal(err)
	}
	for at := 0; at < rows; at += 512 {
		ps := make([]Posting, 512)
		for i := range ps {
			ps[i] = Posting{Vector: vec((at+i)%16, at+i, dim)}
		}
		if _, err := c.Add(ps); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Stats(); s.Shards < 8 {
		t.Fatalf("not indexed: %+v", s)
	}
	mapped := searchAll(c)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, &Options{PreadVectors: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err = db.Collection("wide")
	if err != nil {
		t.Fatal(err)
	}
	pread := searchAll(c)
	for q := range mapped {
		for i := range mapped[q] {
			if mapped[q][i] != pread[q][i] {
				t.Fatalf("query %d hit %d: mapped %+v, pread %+v", q, i, mapped[q][i], pread[q][i])
			}
		}
	}
}

func TestCheckpointOpensAsItsOwnDatabase(t *testing.T) {
	root := t.TempDir()
	db, err := Open(filepath.Join(root, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.CreateCollection("docs", 4, L2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add([]Posting{{DocumentID: IDFromUint64(1), Vector: []float32{1, 0, 0, 0}}}); err != nil {
		t.Fatal(err)
	}
	copyDir := filepath.Join(root, "copy")
	if err := db.Checkpoint(copyDir); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add([]Posting{{DocumentID: IDFromUint64(2), Vector: []float32{0, 1, 0, 0}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Checkpoint(copyDir); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a checkpoint into a non-empty directory: %v", err)
	}
	restored, err := Open(copyDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	rc, err := restored.Collection("docs")
	if err != nil {
		t.Fatal(err)
	}
	hits, err := rc.Search([]float32{1, 0, 0, 0}, SearchOptions{K: 5})
	if err != nil || len(hits) != 1 || hits[0].DocumentID.Uint64() != 1 {
		t.Fatalf("the copy holds what was acknowledged before the checkpoint: %+v %v", hits, err)
	}
}

func TestFilteredSearchOverTypedAttributes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.CreateCollectionWithSchema("docs", 2, L2, "lang:string, size:u64, tags:tags")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Add([]Posting{
		{DocumentID: IDFromUint64(1), Vector: []float32{0, 1}, Attributes: map[string]string{"lang": "en", "size": "10", "tags": "gui,x11"}},
		{DocumentID: IDFromUint64(2), Vector: []float32{0, 0.9}, Attributes: map[string]string{"lang": "fr", "size": "20"}},
		{DocumentID: IDFromUint64(3), Vector: []float32{1, 0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := c.Search([]float32{0, 1}, SearchOptions{K: 5, Filter: "lang == 'fr' or tags contains 'x11'"})
	if err != nil || len(hits) != 2 || hits[0].DocumentID.Uint64() != 1 || hits[1].DocumentID.Uint64() != 2 {
		t.Fatalf("filtered search: %v %v", hits, err)
	}
	batch, err := c.SearchBatch([][]float32{{0, 1}, {1, 0}}, SearchOptions{K: 5, Filter: "lang is null"})
	if err != nil || len(batch[0]) != 1 || batch[1][0].DocumentID.Uint64() != 3 {
		t.Fatalf("filtered batch: %v %v", batch, err)
	}
	// A bad filter names the byte; a bad value names the posting; nothing is added.
	_, err = c.Search([]float32{0, 1}, SearchOptions{K: 5, Filter: "size < 5 and colour == 'red'"})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "byte 13") {
		t.Fatalf("bad filter: %v", err)
	}
	_, err = c.Add([]Posting{{Vector: []float32{0, 0}, Attributes: map[string]string{"size": "-1"}}})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "posting 0") {
		t.Fatalf("bad value: %v", err)
	}
	if err := c.AddAttribute("year:u64"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddAttribute("year:string"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a type change must be refused: %v", err)
	}
	hits, err = c.Search([]float32{0, 1}, SearchOptions{K: 5, Filter: "year is null and size >= 20"})
	if err != nil || len(hits) != 1 || hits[0].DocumentID.Uint64() != 2 {
		t.Fatalf("after adding an attribute: %v %v", hits, err)
	}
	if n, err := c.UpdateAttributes(IDFromUint64(1), map[string]string{"lang": "de"}); err != nil || n != 1 {
		t.Fatalf("update attributes: %d %v", n, err)
	}
	if hits, err := c.Search([]float32{0, 1}, SearchOptions{K: 5, Filter: "lang == 'de' and size is null"}); err != nil || len(hits) != 1 || hits[0].Distance != 0 {
		t.Fatalf("after update: %v %v", hits, err)
	}
	if n, err := c.RemoveWhere("lang == 'fr'"); err != nil || n != 1 {
		t.Fatalf("remove where: %d %v", n, err)
	}
	if _, err := c.RemoveWhere("lang =="); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a bad filter removes nothing: %v", err)
	}
	if hits, err := c.Search([]float32{0, 1}, SearchOptions{K: 5}); err != nil || len(hits) != 2 {
		t.Fatalf("after remove where: %v %v", hits, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
