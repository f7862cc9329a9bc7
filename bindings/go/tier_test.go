package drift

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// s3 returns the tier options of the test server (scripts/test-all.sh starts it), or
// skips the test.
func s3(t *testing.T, mode TierMode, prefix string) ObjectStore {
	endpoint, bucket := os.Getenv("DRIFT_S3_ENDPOINT"), os.Getenv("DRIFT_S3_BUCKET")
	if endpoint == "" || bucket == "" {
		t.Skip("skipped: no S3 endpoint (scripts/test-all.sh starts one)")
	}
	return ObjectStore{Bucket: bucket, Prefix: prefix, Endpoint: endpoint, AllowHTTP: true, Mode: mode}
}

func TestObjectStoreTakeoverFencesTheOldWriter(t *testing.T) {
	prefix := fmt.Sprintf("go-%d", time.Now().UnixNano())
	opts := &Options{NoBackgroundThreads: true}
	old, err := OpenWithObjectStore(filepath.Join(t.TempDir(), "old"), opts, s3(t, TierWriter, prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	c, _ := old.CreateCollection("c", 4, L2)
	if _, err := c.Add([]Posting{{DocumentID: IDFromUint64(1), Vector: []float32{1, 0, 0, 0}}}); err != nil {
		t.Fatal(err)
	}
	if err := old.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := old.SyncObjectStore(); err != nil {
		t.Fatal(err)
	}
	st, err := old.TierStats()
	if err != nil || st.Generation < 1 || st.Requests == 0 || st.PendingFiles != 0 || st.OwnershipLost || st.LastError != "" {
		t.Fatalf("tier stats after a round: %+v %v", st, err)
	}

	restored, err := OpenWithObjectStore(filepath.Join(t.TempDir(), "new"), opts, s3(t, TierRestore, prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	rc, _ := restored.Collection("c")
	hits, err := rc.Search([]float32{1, 0, 0, 0}, SearchOptions{K: 1})
	if err != nil || len(hits) != 1 || hits[0].DocumentID.Uint64() != 1 {
		t.Fatalf("restored search: %v %v", hits, err)
	}
	if err := old.SyncObjectStore(); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("the old writer's sync after a takeover: %v", err)
	}
	st, _ = old.TierStats()
	if !st.OwnershipLost || !strings.Contains(st.LastError, "took the prefix over") {
		t.Fatalf("old writer's tier stats: %+v", st)
	}
	if err := restored.SyncObjectStore(); err != nil {
		t.Fatalf("the new owner promotes: %v", err)
	}
	local, _ := Open(filepath.Join(t.TempDir(), "local"), nil)
	defer local.Close()
	if _, err := local.TierStats(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("tier stats of a local database: %v", err)
	}
}

func TestObjectStoreThatNeverAnswersFailsWithinTheTimeout(t *testing.T) {
	store := s3(t, TierWriter, "go-silent")
	listener, err := net.Listen("tcp", "127.0.0.1:0") // accepts (backlog), never answers
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	store.Endpoint = "http://" + listener.Addr().String()
	store.RequestTimeout = 700 * time.Millisecond
	started := time.Now()
	_, err = OpenWithObjectStore(filepath.Join(t.TempDir(), "db"), nil, store)
	if !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), store.Endpoint) {
		t.Fatalf("open against a silent store: %v", err)
	}
	if took := time.Since(started); took > 5*time.Second {
		t.Fatalf("the open failed after %v with a 700 ms timeout", took)
	}
}
