// Package drift is the Go binding of drift, an embeddable, memory-mapped, durable
// vector storage engine. It wraps the C ABI (libdrift.so + drift.h) with cgo and the
// standard library only.
//
// It finds the C SDK through pkg-config (`#cgo pkg-config: drift`): install it with
// `scripts/install.sh` (into /usr/local, found by default) or `scripts/install.sh
// PREFIX` with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig. drift.pc carries an rpath, so
// programs find libdrift.so.0 at run time without LD_LIBRARY_PATH.
//
//	db, err := drift.Open("my-db", nil)
//	if err != nil { ... }
//	defer db.Close()
//	docs, _ := db.CreateCollection("docs", 384, drift.Cosine)
//	ids, _ := docs.Add([]drift.Posting{{Vector: embedding, Start: 0, Length: 120}})
//	hits, _ := docs.Search(query, drift.SearchOptions{K: 10})
//
// Every method is safe for concurrent use. C never keeps a Go pointer after a call
// returns: slices are borrowed for the duration of the call only.
package drift

/*
#cgo pkg-config: drift
#include <stdlib.h>
#include "drift.h"
*/
import "C"

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
	"unsafe"
)

// Code is a drift status code (DRIFT_E* in drift.h).
type Code int32

// Status codes, identical to the C API's.
const (
	CodeOK                Code = C.DRIFT_OK
	CodeInvalidArgument   Code = C.DRIFT_EINVAL
	CodeDimensionMismatch Code = C.DRIFT_EDIMENSION
	CodeNonFinite         Code = C.DRIFT_ENONFINITE
	CodeNotFound          Code = C.DRIFT_ENOTFOUND
	CodeExists            Code = C.DRIFT_EEXISTS
	CodeLocked            Code = C.DRIFT_ELOCKED
	CodeIO                Code = C.DRIFT_EIO
	CodeNoSpace           Code = C.DRIFT_ENOSPACE
	CodeCorrupt           Code = C.DRIFT_ECORRUPT
	CodeUnsupportedFormat Code = C.DRIFT_EVERSION
	CodePoisoned          Code = C.DRIFT_EPOISONED
	CodeClosed            Code = C.DRIFT_ECLOSED
	CodeInternal          Code = C.DRIFT_EINTERNAL
	// CodeBusy: writes waited for flushes to catch up (backpressure) and timed out.
	CodeBusy Code = C.DRIFT_EBUSY
	// CodeRemote: the object store failed or did not answer within its timeout.
	CodeRemote Code = C.DRIFT_EREMOTE
	// CodeNotOwner: another writer owns (or took over) the object-store prefix.
	CodeNotOwner Code = C.DRIFT_ENOTOWNER
	// CodeReadOnly: a write to a read-only replica.
	CodeReadOnly Code = C.DRIFT_EREADONLY
)

// Error is an error returned by drift: a stable code and a readable message.
// Compare with errors.Is against the Err* values, which match on the code.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("drift: %s (code %d)", e.Message, e.Code) }

// Is reports whether target is a *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Sentinel errors for errors.Is.
var (
	ErrInvalidArgument   = &Error{Code: CodeInvalidArgument, Message: "invalid argument"}
	ErrDimensionMismatch = &Error{Code: CodeDimensionMismatch, Message: "dimension mismatch"}
	ErrNonFinite         = &Error{Code: CodeNonFinite, Message: "NaN or infinite value"}
	ErrNotFound          = &Error{Code: CodeNotFound, Message: "not found"}
	ErrExists            = &Error{Code: CodeExists, Message: "already exists"}
	ErrLocked            = &Error{Code: CodeLocked, Message: "locked"}
	ErrNoSpace           = &Error{Code: CodeNoSpace, Message: "no space"}
	ErrCorrupt           = &Error{Code: CodeCorrupt, Message: "corrupt"}
	ErrPoisoned          = &Error{Code: CodePoisoned, Message: "poisoned"}
	ErrClosed            = &Error{Code: CodeClosed, Message: "closed"}
	ErrRemote            = &Error{Code: CodeRemote, Message: "object store failed"}
	ErrNotOwner          = &Error{Code: CodeNotOwner, Message: "not the prefix's owner"}
	ErrReadOnly          = &Error{Code: CodeReadOnly, Message: "read-only replica"}
)

func check(status C.int32_t, cerr *C.drift_error) error {
	if status == C.DRIFT_OK {
		return nil
	}
	e := &Error{Code: Code(status), Message: "unknown error"}
	if cerr != nil {
		e.Message = C.GoString(C.drift_error_message(cerr))
		C.drift_error_free(cerr)
	}
	return e
}

// Version is the version of the linked libdrift.
func Version() string { return C.GoString(C.drift_version()) }

// Metric is how distances are measured (smaller is closer).
type Metric uint32

// Metrics.
const (
	L2           Metric = C.DRIFT_METRIC_L2
	InnerProduct Metric = C.DRIFT_METRIC_INNER_PRODUCT
	Cosine       Metric = C.DRIFT_METRIC_COSINE
)

// SyncPolicy says when a write is acknowledged (see the README's durability contract).
type SyncPolicy uint32

// Sync policies.
const (
	SyncAlways   SyncPolicy = C.DRIFT_SYNC_ALWAYS
	SyncPeriodic SyncPolicy = C.DRIFT_SYNC_PERIODIC
	SyncNever    SyncPolicy = C.DRIFT_SYNC_NEVER
)

// Options of Open. Zero fields keep drift's defaults.
type Options struct {
	SyncPolicy          SyncPolicy
	SyncInterval        time.Duration
	MemtableFlushBytes  uint64
	WALSegmentBytes     uint64
	WALRingSegments     uint32
	ShardMaxRows        uint64
	NoBackgroundThreads bool
	NoCreate            bool
	// PreadVectors: searches copy the vectors they re-rank out of the page cache
	// (pread) instead of borrowing them from the map, keeping them out of the
	// process's resident set (DRIFT_VECTOR_READS_PREAD).
	PreadVectors bool
}

// DocumentID is a 128-bit document id (little-endian u128, as in the C API).
type DocumentID [16]byte

// IDFromUint64 makes a document id from a uint64.
func IDFromUint64(n uint64) DocumentID {
	var id DocumentID
	binary.LittleEndian.PutUint64(id[:8], n)
	return id
}

// Uint64 is the low 64 bits of the id.
func (id DocumentID) Uint64() uint64 { return binary.LittleEndian.Uint64(id[:8]) }

// IsZero reports whether the id is all zero.
func (id DocumentID) IsZero() bool { return id == DocumentID{} }

func (id DocumentID) String() string { return hex.EncodeToString(id[:]) }

// DB is an open database. Close it to release the directory lock.
type DB struct{ h *C.drift_db }

// Open opens (creating if allowed) the database in directory path and recovers it.
// opts may be nil for the defaults.
func Open(path string, opts *Options) (*DB, error) {
	return open(path, opts, nil)
}

func (opts *Options) c() C.drift_options {
	var o C.drift_options
	C.drift_options_default(&o)
	if opts == nil {
		return o
	}
	o.sync_policy = C.uint32_t(opts.SyncPolicy)
	if opts.SyncInterval > 0 {
		o.sync_interval_ms = C.uint32_t(opts.SyncInterval / time.Millisecond)
	}
	if opts.MemtableFlushBytes > 0 {
		o.memtable_flush_bytes = C.uint64_t(opts.MemtableFlushBytes)
	}
	if opts.WALSegmentBytes > 0 {
		o.wal_segment_bytes = C.uint64_t(opts.WALSegmentBytes)
	}
	if opts.WALRingSegments > 0 {
		o.wal_ring_segments = C.uint32_t(opts.WALRingSegments)
	}
	if opts.ShardMaxRows > 0 {
		o.shard_max_rows = C.uint64_t(opts.ShardMaxRows)
	}
	if opts.NoBackgroundThreads {
		o.background_threads = 0
	}
	if opts.NoCreate {
		o.create_if_missing = 0
	}
	if opts.PreadVectors {
		o.vector_reads = C.DRIFT_VECTOR_READS_PREAD
	}
	return o
}

func open(path string, opts *Options, store *ObjectStore) (*DB, error) {
	o := opts.c()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var h *C.drift_db
	var cerr *C.drift_error
	var status C.int32_t
	if store == nil {
		status = C.drift_open(cpath, &o, &h, &cerr)
	} else {
		t, free := store.c()
		defer free()
		status = C.drift_open_with_object_store(cpath, &o, &t, &h, &cerr)
	}
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return &DB{h: h}, nil
}

// TierMode is what a database is to its object-store prefix.
type TierMode uint32

// Tier modes.
const (
	// TierWriter: the database promotes to the prefix (it owns it).
	TierWriter TierMode = C.DRIFT_TIER_WRITER
	// TierRestore: restore the prefix into the empty directory and take it over; the
	// old writer is fenced.
	TierRestore TierMode = C.DRIFT_TIER_RESTORE
	// TierReplica: follow the prefix read-only.
	TierReplica TierMode = C.DRIFT_TIER_REPLICA
)

// ObjectStore configures the S3 tier of OpenWithObjectStore. Zero fields keep
// drift's defaults. Credentials come from the AWS environment variables.
type ObjectStore struct {
	Bucket   string
	Prefix   string
	Endpoint string // an S3-compatible endpoint URL; "" for AWS
	Region   string // "" for us-east-1
	Mode     TierMode
	// AllowHTTP permits http:// endpoints (local test servers).
	AllowHTTP bool
	// LocalDiskBudget: bytes of shard files kept locally; promoted shards above it
	// are evicted and fetched back when searched. nil keeps everything.
	LocalDiskBudget *uint64
	// Interval between background promotion (or refresh) rounds; 0 = 1 s.
	Interval time.Duration
	// ConnectTimeout: how long connecting may take; 0 = 3 s.
	ConnectTimeout time.Duration
	// RequestTimeout: how long one object-store operation may take, retries
	// included (an open, a round's request, a cold search's fetch); 0 = 10 s.
	RequestTimeout time.Duration
}

// c converts to the C struct; free releases its strings.
func (s *ObjectStore) c() (C.drift_object_store_options, func()) {
	var t C.drift_object_store_options
	C.drift_object_store_options_default(&t)
	var strs []*C.char
	str := func(v string) *C.char {
		p := C.CString(v)
		strs = append(strs, p)
		return p
	}
	t.bucket = str(s.Bucket)
	t.prefix = str(s.Prefix)
	if s.Endpoint != "" {
		t.endpoint = str(s.Endpoint)
	}
	if s.Region != "" {
		t.region = str(s.Region)
	}
	t.mode = C.uint32_t(s.Mode)
	if s.AllowHTTP {
		t.allow_http = 1
	}
	if s.LocalDiskBudget != nil {
		t.local_disk_budget = C.uint64_t(*s.LocalDiskBudget)
	}
	if s.Interval > 0 {
		t.interval_ms = C.uint64_t(s.Interval / time.Millisecond)
	}
	if s.ConnectTimeout > 0 {
		t.connect_timeout_ms = C.uint64_t(max(s.ConnectTimeout/time.Millisecond, 1))
	}
	if s.RequestTimeout > 0 {
		t.request_timeout_ms = C.uint64_t(max(s.RequestTimeout/time.Millisecond, 1))
	}
	return t, func() {
		for _, p := range strs {
			C.free(unsafe.Pointer(p))
		}
	}
}

// OpenWithObjectStore opens the database in path with the S3 tier: as the prefix's
// writer, restoring it into an empty directory (taking it over), or as a read-only
// replica. ErrNotOwner if another writer owns the prefix; ErrRemote if the store
// fails or does not answer within RequestTimeout.
func OpenWithObjectStore(path string, opts *Options, store ObjectStore) (*DB, error) {
	return open(path, opts, &store)
}

// SyncObjectStore runs one promotion round now (writer) or loads the newest
// generation (replica). Rounds never overlap: a call during a background round waits
// for it. ErrNotOwner once another writer took the prefix over.
func (db *DB) SyncObjectStore() error {
	var cerr *C.drift_error
	return check(C.drift_sync_object_store(db.h, &cerr), cerr)
}

// TierStats is the S3 tier's state.
type TierStats struct {
	Generation      uint64        // generation POINTER names, as last written or loaded
	Requests        uint64        // object-store requests since open
	BytesUploaded   uint64        // since open
	BytesDownloaded uint64        // since open
	PendingFiles    uint64        // sealed shard files not yet promoted
	PendingBytes    uint64        // bytes of those files
	Lag             time.Duration // since a round first found local state the store lacks; 0 when current
	Evictions       uint64        // shard files evicted from local disk since open
	Fetches         uint64        // shard files fetched back since open
	OwnershipLost   bool          // another writer took the prefix over: promotion stopped
	LastError       string        // the last round's error, or why ownership was lost; "" if none
}

// TierStats reports the S3 tier's state; ErrInvalidArgument without an object store.
func (db *DB) TierStats() (TierStats, error) {
	var t C.drift_tier_stats
	var cerr *C.drift_error
	if err := check(C.drift_tier_stats_get(db.h, &t, &cerr), cerr); err != nil {
		return TierStats{}, err
	}
	return TierStats{
		Generation:      uint64(t.generation),
		Requests:        uint64(t.requests),
		BytesUploaded:   uint64(t.bytes_uploaded),
		BytesDownloaded: uint64(t.bytes_downloaded),
		PendingFiles:    uint64(t.pending_files),
		PendingBytes:    uint64(t.pending_bytes),
		Lag:             time.Duration(t.lag_ms) * time.Millisecond,
		Evictions:       uint64(t.evictions),
		Fetches:         uint64(t.fetches),
		OwnershipLost:   t.ownership_lost != 0,
		LastError:       C.GoString(&t.last_error[0]),
	}, nil
}

// Close stops background work, syncs the WAL and releases the lock. Collections of
// the database return ErrClosed afterwards. Closing twice returns ErrClosed.
func (db *DB) Close() error {
	var cerr *C.drift_error
	return check(C.drift_close(db.h, &cerr), cerr)
}

func (db *DB) collection(name string, create bool, dim int, metric Metric, schema string) (*Collection, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var h *C.drift_collection
	var cerr *C.drift_error
	var status C.int32_t
	if create {
		if dim <= 0 || dim > 1<<31-1 {
			return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("dimension %d out of range", dim)}
		}
		cschema := C.CString(schema)
		defer C.free(unsafe.Pointer(cschema))
		status = C.drift_collection_create_with_schema(db.h, cname, C.uint32_t(dim), C.uint32_t(metric), cschema, &h, &cerr)
	} else {
		status = C.drift_collection_open(db.h, cname, &h, &cerr)
	}
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	c := &Collection{h: h, dim: dim}
	if !create {
		var s C.drift_collection_stats
		if err := check(C.drift_collection_stats_get(h, &s, &cerr), cerr); err != nil {
			C.drift_collection_free(h)
			return nil, err
		}
		c.dim = int(s.dimension)
	}
	runtime.SetFinalizer(c, (*Collection).Close)
	return c, nil
}

// CreateCollection creates a collection (durable on return).
func (db *DB) CreateCollection(name string, dimension int, metric Metric) (*Collection, error) {
	return db.collection(name, true, dimension, metric, "")
}

// CreateCollectionWithSchema creates a collection whose postings carry typed
// attributes, declared as `name:type` entries separated by commas (types u64, i64,
// f64, bool, string, tags, timestamp), e.g. "lang:string, size:u64, tags:tags".
// Durable on return.
func (db *DB) CreateCollectionWithSchema(name string, dimension int, metric Metric, schema string) (*Collection, error) {
	return db.collection(name, true, dimension, metric, schema)
}

// Collection opens an existing collection (ErrNotFound if there is none).
func (db *DB) Collection(name string) (*Collection, error) {
	return db.collection(name, false, 0, 0, "")
}

// DropCollection drops a collection and deletes its files.
func (db *DB) DropCollection(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr *C.drift_error
	return check(C.drift_collection_drop(db.h, cname, &cerr), cerr)
}

// Collections lists the collection names, sorted.
func (db *DB) Collections() ([]string, error) {
	var list *C.drift_string_list
	var cerr *C.drift_error
	if err := check(C.drift_collection_list(db.h, &list, &cerr), cerr); err != nil {
		return nil, err
	}
	defer C.drift_string_list_free(list)
	n := int(C.drift_string_list_len(list))
	names := make([]string, n)
	for i := 0; i < n; i++ {
		names[i] = C.GoString(C.drift_string_list_get(list, C.size_t(i)))
	}
	return names, nil
}

// Flush moves memtables into shard files; returns when that is durable.
func (db *DB) Flush() error {
	var cerr *C.drift_error
	return check(C.drift_flush(db.h, &cerr), cerr)
}

// Checkpoint writes a consistent, openable copy of the whole database into dir
// (which must not exist, or be empty): it flushes, then hard-links the sealed shard
// files and copies only open ones, so it takes time proportional to the number of
// files. The copy holds every write acknowledged before the call.
func (db *DB) Checkpoint(dir string) error {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var cerr *C.drift_error
	return check(C.drift_checkpoint(db.h, cdir, &cerr), cerr)
}

// Maintain runs pending maintenance (flush, index rebalancing, compaction of shards
// with at least 1/8 of their rows deleted; Compact removes every deleted row) for
// about budget; for hosts that turn background threads off.
func (db *DB) Maintain(budget time.Duration) error {
	var cerr *C.drift_error
	return check(C.drift_maintain(db.h, C.uint64_t(budget/time.Millisecond), &cerr), cerr)
}

// Collection is a handle to a collection. Close it when done (a finalizer does too).
type Collection struct {
	h   *C.drift_collection
	dim int
}

// Close frees the handle (the collection itself stays). Safe to call twice.
func (c *Collection) Close() error {
	runtime.SetFinalizer(c, nil)
	C.drift_collection_free(c.h)
	return nil
}

// Dimension is the collection's vector dimension.
func (c *Collection) Dimension() int { return c.dim }

// Posting is one vector and the span of the document it embeds. A zero DocumentID
// asks drift for a fresh ULID; a batch names every document or none.
type Posting struct {
	DocumentID DocumentID
	Start      uint32
	Length     uint32
	Vector     []float32
	// Attributes are the posting's attribute values by name, in text form (numbers
	// as written, bools true/false, tags separated by commas, timestamps as
	// microseconds or RFC 3339); names must be in the collection's schema. Nil: none.
	Attributes map[string]string
}

// attributeTexts is each posting's attributes as the C API's text form
// ("name=value" entries separated by tabs), or nil when no posting has any.
func attributeTexts(postings []Posting) ([]*C.char, func(), error) {
	some := false
	for _, p := range postings {
		some = some || len(p.Attributes) > 0
	}
	if !some {
		return nil, func() {}, nil
	}
	texts := make([]*C.char, len(postings))
	free := func() {
		for _, t := range texts {
			if t != nil {
				C.free(unsafe.Pointer(t))
			}
		}
	}
	for i, p := range postings {
		if len(p.Attributes) == 0 {
			continue
		}
		names := make([]string, 0, len(p.Attributes))
		for name := range p.Attributes {
			names = append(names, name)
		}
		sort.Strings(names)
		var b strings.Builder
		for j, name := range names {
			value := p.Attributes[name]
			if strings.ContainsAny(name+value, "\t\x00") || strings.Contains(name, "=") {
				free()
				return nil, nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("posting %d: attribute %q: names and values cannot hold tabs or NUL, names no '='", i, name)}
			}
			if j > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(name + "=" + value)
		}
		texts[i] = C.CString(b.String())
	}
	return texts, free, nil
}

type packed struct {
	ids       []DocumentID
	starts    []uint32
	lengths   []uint32
	vectors   []float32
	generated bool
}

func (c *Collection) pack(postings []Posting) (*packed, error) {
	p := &packed{
		ids:     make([]DocumentID, len(postings)),
		starts:  make([]uint32, len(postings)),
		lengths: make([]uint32, len(postings)),
		vectors: make([]float32, 0, len(postings)*c.dim),
	}
	zero := 0
	for i, ps := range postings {
		if len(ps.Vector) != c.dim {
			return nil, &Error{Code: CodeDimensionMismatch, Message: fmt.Sprintf("posting %d has %d components, the collection's dimension is %d", i, len(ps.Vector), c.dim)}
		}
		if ps.DocumentID.IsZero() {
			zero++
		}
		p.ids[i], p.starts[i], p.lengths[i] = ps.DocumentID, ps.Start, ps.Length
		p.vectors = append(p.vectors, ps.Vector...)
	}
	if zero != 0 && zero != len(postings) {
		return nil, &Error{Code: CodeInvalidArgument, Message: "a batch must name every document or none"}
	}
	p.generated = zero == len(postings) && zero > 0
	return p, nil
}

func u8(ids []DocumentID) *C.uint8_t {
	if len(ids) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&ids[0][0]))
}

func u32(v []uint32) *C.uint32_t {
	if len(v) == 0 {
		return nil
	}
	return (*C.uint32_t)(unsafe.Pointer(&v[0]))
}

func f32(v []float32) *C.float {
	if len(v) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&v[0]))
}

// Add adds postings atomically and returns their document ids. It returns once the
// batch is durable (per the sync policy) and searchable.
func (c *Collection) Add(postings []Posting) ([]DocumentID, error) {
	p, err := c.pack(postings)
	if err != nil {
		return nil, err
	}
	in := u8(p.ids)
	if p.generated {
		in = nil
	}
	out := make([]DocumentID, len(postings))
	texts, free, err := attributeTexts(postings)
	if err != nil {
		return nil, err
	}
	defer free()
	var cerr *C.drift_error
	var status C.int32_t
	if texts == nil {
		status = C.drift_add(c.h, in, u32(p.starts), u32(p.lengths), f32(p.vectors), C.size_t(len(postings)), C.size_t(c.dim), u8(out), &cerr)
	} else {
		// The array of C string pointers is C memory: cgo allows passing it.
		arr := (**C.char)(C.malloc(C.size_t(len(texts)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
		defer C.free(unsafe.Pointer(arr))
		copy(unsafe.Slice(arr, len(texts)), texts)
		status = C.drift_add_with_attributes(c.h, in, u32(p.starts), u32(p.lengths), f32(p.vectors), arr, C.size_t(len(postings)), C.size_t(c.dim), u8(out), &cerr)
	}
	runtime.KeepAlive(p)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return out, nil
}

// Upsert replaces every posting of document id with postings, atomically. The
// postings' DocumentID fields are ignored. No postings removes the document.
func (c *Collection) Upsert(id DocumentID, postings []Posting) error {
	for i := range postings {
		postings[i].DocumentID = id
	}
	p, err := c.pack(postings)
	if err != nil {
		return err
	}
	var cerr *C.drift_error
	status := C.drift_upsert(c.h, (*C.uint8_t)(unsafe.Pointer(&id[0])), u32(p.starts), u32(p.lengths), f32(p.vectors), C.size_t(len(postings)), C.size_t(c.dim), &cerr)
	runtime.KeepAlive(p)
	return check(status, cerr)
}

// UpdateAttributes replaces the attribute values of every posting of document id
// with values (text form, as in Posting.Attributes; attributes not named become null),
// keeping vectors and spans, atomically and durably. It returns the postings updated
// (0: no such document).
func (c *Collection) UpdateAttributes(id DocumentID, values map[string]string) (int, error) {
	texts, free, err := attributeTexts([]Posting{{Attributes: values}})
	if err != nil {
		return 0, err
	}
	defer free()
	empty := C.CString("")
	defer C.free(unsafe.Pointer(empty))
	text := empty
	if texts != nil && texts[0] != nil {
		text = texts[0]
	}
	var n C.uint64_t
	var cerr *C.drift_error
	if err := check(C.drift_update_attributes(c.h, (*C.uint8_t)(unsafe.Pointer(&id[0])), text, &n, &cerr), cerr); err != nil {
		return 0, err
	}
	return int(n), nil
}

// RemoveWhere removes every document with a posting whose attributes match filter,
// atomically and durably, and returns how many. A bad filter fails with
// ErrInvalidArgument naming the byte, before anything is removed.
func (c *Collection) RemoveWhere(filter string) (int, error) {
	cf := C.CString(filter)
	defer C.free(unsafe.Pointer(cf))
	var n C.uint64_t
	var cerr *C.drift_error
	if err := check(C.drift_remove_where(c.h, cf, &n, &cerr), cerr); err != nil {
		return 0, err
	}
	return int(n), nil
}

// AddAttribute adds an attribute ("name:type") to the collection's schema; postings
// written before read it as null. Declaring it again with its type does nothing;
// another type fails with ErrInvalidArgument. Durable on return.
func (c *Collection) AddAttribute(attribute string) error {
	ca := C.CString(attribute)
	defer C.free(unsafe.Pointer(ca))
	var cerr *C.drift_error
	return check(C.drift_collection_add_attribute(c.h, ca, &cerr), cerr)
}

// Remove removes every posting of the given documents (unknown ids are ignored).
func (c *Collection) Remove(ids ...DocumentID) error {
	var cerr *C.drift_error
	return check(C.drift_remove(c.h, u8(ids), C.size_t(len(ids)), &cerr), cerr)
}

// SearchOptions are the options of a search.
type SearchOptions struct {
	// K is the number of hits wanted (1 to 100000).
	K int
	// OnePerDocument returns at most one hit (the closest posting) per document.
	OnePerDocument bool
	// NProbe is the number of centroids whose shards are scanned once the collection
	// is indexed (the recall/speed knob); 0 means the default (⌈5·√centroids⌉, at least 16).
	NProbe int
	// RerankFactor is how many candidates per wanted hit are re-ranked with exact
	// distances; 0 means the default (8).
	RerankFactor int
	// ProbePatience stops the probe once this many lists in a row (nearest centroid
	// first) added nothing to the K best estimates; 0 scans all NProbe lists.
	ProbePatience int
	// Filter keeps only postings whose attributes match, in drift's filter language
	// (e.g. "lang == 'en' and size < 500 and tags contains 'x11'"); "" for none. A bad
	// filter fails with ErrInvalidArgument naming the byte offset.
	Filter string
}

func (o SearchOptions) c() (C.drift_search_options, error) {
	if o.K <= 0 || o.K > 100000 {
		return C.drift_search_options{}, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("k must be between 1 and 100000, got %d", o.K)}
	}
	if o.NProbe < 0 || o.ProbePatience < 0 || o.RerankFactor < 0 || o.RerankFactor > 1000 {
		return C.drift_search_options{}, &Error{Code: CodeInvalidArgument, Message: "NProbe and ProbePatience must be >= 0 and RerankFactor between 0 and 1000"}
	}
	opts := C.drift_search_options{k: C.uint32_t(o.K), nprobe: C.uint32_t(o.NProbe), rerank_factor: C.uint32_t(o.RerankFactor), probe_patience: C.uint32_t(o.ProbePatience)}
	if o.OnePerDocument {
		opts.one_per_document = 1
	}
	return opts, nil
}

// Hit is one search result.
type Hit struct {
	DocumentID DocumentID
	Start      uint32
	Length     uint32
	Distance   float32
}

func hitOf(h *C.drift_hit) Hit {
	var id DocumentID
	for i := range id {
		id[i] = byte(h.document_id[i])
	}
	return Hit{DocumentID: id, Start: uint32(h.start), Length: uint32(h.length), Distance: float32(h.distance)}
}

// Search returns the opts.K postings nearest to query, closest first.
func (c *Collection) Search(query []float32, opts SearchOptions) ([]Hit, error) {
	o, err := opts.c()
	if err != nil {
		return nil, err
	}
	buf := make([]C.drift_hit, opts.K)
	var count C.size_t
	var cerr *C.drift_error
	var status C.int32_t
	if opts.Filter == "" {
		status = C.drift_search(c.h, f32(query), C.size_t(len(query)), &o, &buf[0], C.size_t(len(buf)), &count, &cerr)
	} else {
		filter := C.CString(opts.Filter)
		defer C.free(unsafe.Pointer(filter))
		status = C.drift_search_filtered(c.h, f32(query), C.size_t(len(query)), &o, filter, &buf[0], C.size_t(len(buf)), &count, &cerr)
	}
	runtime.KeepAlive(query)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	hits := make([]Hit, int(count))
	for i := range hits {
		hits[i] = hitOf(&buf[i])
	}
	return hits, nil
}

// SearchBatch searches many queries of the collection's dimension at once.
func (c *Collection) SearchBatch(queries [][]float32, opts SearchOptions) ([][]Hit, error) {
	o, err := opts.c()
	if err != nil {
		return nil, err
	}
	if opts.Filter != "" {
		// One filtered search per query (the C batch call takes no filter).
		out := make([][]Hit, len(queries))
		for i, q := range queries {
			hits, err := c.Search(q, opts)
			if err != nil {
				return nil, err
			}
			out[i] = hits
		}
		return out, nil
	}
	flat := make([]float32, 0, len(queries)*c.dim)
	for i, q := range queries {
		if len(q) != c.dim {
			return nil, &Error{Code: CodeDimensionMismatch, Message: fmt.Sprintf("query %d has %d components, the collection's dimension is %d", i, len(q), c.dim)}
		}
		flat = append(flat, q...)
	}
	var results *C.drift_results
	var cerr *C.drift_error
	status := C.drift_search_batch(c.h, f32(flat), C.size_t(len(queries)), C.size_t(c.dim), &o, &results, &cerr)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	defer C.drift_results_free(results)
	out := make([][]Hit, len(queries))
	for q := range out {
		var hits *C.drift_hit
		var count C.size_t
		if err := check(C.drift_results_get(results, C.size_t(q), &hits, &count, &cerr), cerr); err != nil {
			return nil, err
		}
		view := unsafe.Slice(hits, int(count))
		out[q] = make([]Hit, len(view))
		for i := range view {
			out[q][i] = hitOf(&view[i])
		}
	}
	return out, nil
}

// Compact rewrites shard files holding deleted rows without them.
func (c *Collection) Compact() error {
	var cerr *C.drift_error
	return check(C.drift_compact(c.h, &cerr), cerr)
}

// Stats are a collection's counters.
type Stats struct {
	MemtableRows, FrozenRows, ShardRows, Shards, SealedShards, RowGroups, ShardBytes, Tombstones uint64
}

// Stats returns the collection's counters.
func (c *Collection) Stats() (Stats, error) {
	var s C.drift_collection_stats
	var cerr *C.drift_error
	if err := check(C.drift_collection_stats_get(c.h, &s, &cerr), cerr); err != nil {
		return Stats{}, err
	}
	return Stats{uint64(s.memtable_rows), uint64(s.frozen_rows), uint64(s.shard_rows), uint64(s.shards),
		uint64(s.sealed_shards), uint64(s.row_groups), uint64(s.shard_bytes), uint64(s.tombstones)}, nil
}
