"""drift's Arrow C Data / C Stream interface, driven from pyarrow through ctypes.

Run by scripts/test-arrow.sh (which builds libdrift.so and installs pyarrow into a
virtual environment):  python ffi/tests/test_arrow_pyarrow.py <path-to-libdrift.so>

Each check is a statement about the ABI; the script exits non-zero on the first one
that does not hold.
"""
import ctypes
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DRIFT_OK, DRIFT_EINVAL, DRIFT_EDIMENSION = 0, 1, 2
DRIFT_METRIC_L2 = 1
DIM, ROWS = 8, 500

lib = ctypes.CDLL(sys.argv[1])
c_void_pp = ctypes.POINTER(ctypes.c_void_p)
lib.drift_open.argtypes = [ctypes.c_char_p, ctypes.c_void_p, c_void_pp, c_void_pp]
lib.drift_close.argtypes = [ctypes.c_void_p, c_void_pp]
lib.drift_collection_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32, c_void_pp, c_void_pp]
lib.drift_collection_free.argtypes = [ctypes.c_void_p]
lib.drift_error_message.argtypes = [ctypes.c_void_p]
lib.drift_error_message.restype = ctypes.c_char_p
lib.drift_error_free.argtypes = [ctypes.c_void_p]
lib.drift_add_arrow.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), c_void_pp]
lib.drift_add_arrow_stream.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), c_void_pp]
lib.drift_search_arrow.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, c_void_pp]


class SearchOptions(ctypes.Structure):
    _fields_ = [("k", ctypes.c_uint32), ("one_per_document", ctypes.c_uint32), ("nprobe", ctypes.c_uint32), ("rerank_factor", ctypes.c_uint32)]


# Sizes and release-pointer offsets of the C structures (Arrow spec, 64-bit).
ARRAY_SIZE, ARRAY_RELEASE = 80, 64
SCHEMA_SIZE, SCHEMA_RELEASE = 72, 56
STREAM_SIZE, STREAM_RELEASE = 40, 24


def released(buf, offset):
    return ctypes.c_void_p.from_buffer(buf, offset).value is None


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}")
        sys.exit(1)
    print(f"ok: {what}")


def call(rc_expected, fn, *args):
    err = ctypes.c_void_p()
    rc = fn(*args, ctypes.byref(err))
    message = ""
    if err.value:
        message = lib.drift_error_message(err).decode()
        lib.drift_error_free(err)
    if rc != rc_expected:
        print(f"FAILED: {fn.__name__} returned {rc} ({message}), expected {rc_expected}")
        sys.exit(1)
    return message


def add_batch(coll, batch, rc=DRIFT_OK):
    array, schema = ctypes.create_string_buffer(ARRAY_SIZE), ctypes.create_string_buffer(SCHEMA_SIZE)
    batch._export_to_c(ctypes.addressof(array), ctypes.addressof(schema))
    added = ctypes.c_size_t(0)
    message = call(rc, lib.drift_add_arrow, coll, ctypes.addressof(array), ctypes.addressof(schema), ctypes.byref(added))
    check(released(array, ARRAY_RELEASE) and released(schema, SCHEMA_RELEASE), "drift released the array and schema it took")
    return added.value, message


def vectors_column(v):
    return pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1), type=pa.float32()), DIM)


rng = np.random.default_rng(7)
base = rng.standard_normal((ROWS, DIM)).astype(np.float32)
with tempfile.TemporaryDirectory() as tmp:
    db = ctypes.c_void_p()
    call(DRIFT_OK, lib.drift_open, tmp.encode() + b"/db", None, ctypes.byref(db))
    coll = ctypes.c_void_p()
    call(DRIFT_OK, lib.drift_collection_create, db, b"docs", DIM, DRIFT_METRIC_L2, ctypes.byref(coll))

    # 1. One record batch through the C Data Interface: uint64 ids, spans, fixed-size lists.
    half = ROWS // 2
    first = pa.RecordBatch.from_arrays(
        [pa.array(np.arange(half, dtype=np.uint64)), vectors_column(base[:half]),
         pa.array(np.arange(half, dtype=np.uint32) * 10), pa.array(np.full(half, 10, dtype=np.uint32))],
        names=["document_id", "vector", "start", "length"])
    added, _ = add_batch(coll, first)
    check(added == half, f"drift_add_arrow added {half} rows")

    # 2. The rest as a C stream of two batches, with 16-byte ids and int64 spans.
    ids = [int(i).to_bytes(16, "little") for i in range(half, ROWS)]
    rest = pa.RecordBatch.from_arrays(
        [pa.array(ids, type=pa.binary(16)), vectors_column(base[half:]),
         pa.array(np.arange(half, ROWS, dtype=np.int64) * 10), pa.array(np.full(ROWS - half, 10, dtype=np.int64))],
        names=["document_id", "vector", "start", "length"])
    reader = pa.RecordBatchReader.from_batches(rest.schema, [rest.slice(0, 100), rest.slice(100)])
    stream = ctypes.create_string_buffer(STREAM_SIZE)
    reader._export_to_c(ctypes.addressof(stream))
    added64 = ctypes.c_uint64(0)
    call(DRIFT_OK, lib.drift_add_arrow_stream, coll, ctypes.addressof(stream), ctypes.byref(added64))
    check(added64.value == ROWS - half, f"drift_add_arrow_stream added {ROWS - half} rows from 2 batches")
    check(released(stream, STREAM_RELEASE), "drift released the stream it took")

    # 3. Search results come back as a C stream that pyarrow reads.
    queries = np.ascontiguousarray(base[[3, 250, 499]] + 0.001, dtype=np.float32)
    opts = SearchOptions(k=5)
    out = ctypes.create_string_buffer(STREAM_SIZE)
    call(DRIFT_OK, lib.drift_search_arrow, coll, queries.ctypes.data, 3, DIM, ctypes.byref(opts), ctypes.addressof(out))
    table = pa.RecordBatchReader._import_from_c(ctypes.addressof(out)).read_all()
    check(table.num_rows == 15, "15 hits for 3 queries with k = 5")
    check(table.schema.field("document_id").type == pa.binary(16), "document_id is FixedSizeBinary(16)")
    check(table.schema.field("distance").type == pa.float32(), "distance is Float32")
    truth = [np.argsort(((base - q) ** 2).sum(axis=1))[:5] for q in queries]
    for qi in range(3):
        rows = table.filter(pc.equal(table["query"], qi))
        got = rows["document_id_u64"].to_pylist()
        check(got == [int(t) for t in truth[qi]], f"query {qi}: hits are the exact 5 nearest, in order")
        check(rows["rank"].to_pylist() == [0, 1, 2, 3, 4], f"query {qi}: ranks 0..4")
        first_id = int.from_bytes(rows["document_id"][0].as_py(), "little")
        check(first_id == got[0], f"query {qi}: the 16-byte id is the little-endian u128 of the u64 id")
        check(rows["start"][0].as_py() == got[0] * 10 and rows["length"][0].as_py() == 10, f"query {qi}: spans round-trip")
        dist = ((base[got[0]] - queries[qi]) ** 2).sum()
        check(abs(rows["distance"][0].as_py() - dist) < 1e-5, f"query {qi}: distance is the squared L2 distance")

    # 4. Bad input: clear errors, nothing added, structures still released.
    wrong_type = pa.RecordBatch.from_arrays(
        [pa.array([1], type=pa.uint64()), pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(DIM), type=pa.float64()), DIM)],
        names=["document_id", "vector"])
    _, message = add_batch(coll, wrong_type, DRIFT_EINVAL)
    check("Float32" in message and "cast" in message, f"float64 vectors are refused with a hint: {message!r}")
    wrong_dim = pa.RecordBatch.from_arrays(
        [pa.array([1], type=pa.uint64()), pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(4), type=pa.float32()), 4)],
        names=["document_id", "vector"])
    add_batch(coll, wrong_dim, DRIFT_EDIMENSION)
    null_id = pa.RecordBatch.from_arrays([pa.array([None, 2], type=pa.uint64()), vectors_column(base[:2])], names=["document_id", "vector"])
    _, message = add_batch(coll, null_id, DRIFT_EINVAL)
    check("null" in message and "row 0" in message, f"a null id is refused with its row: {message!r}")
    no_vector = pa.RecordBatch.from_arrays([pa.array([1], type=pa.uint64())], names=["document_id"])
    _, message = add_batch(coll, no_vector, DRIFT_EINVAL)
    check("vector" in message, f"a missing column is named: {message!r}")
    call(DRIFT_EINVAL, lib.drift_add_arrow, coll, None, None, None)

    out = ctypes.create_string_buffer(STREAM_SIZE)
    call(DRIFT_OK, lib.drift_search_arrow, coll, queries.ctypes.data, 1, DIM, ctypes.byref(SearchOptions(k=ROWS + 10)), ctypes.addressof(out))
    check(pa.RecordBatchReader._import_from_c(ctypes.addressof(out)).read_all().num_rows == ROWS, "failed adds added nothing: still 500 postings")

    lib.drift_collection_free(coll)
    call(DRIFT_OK, lib.drift_close, db)
print("Arrow C interface tests (pyarrow): all passed")
