"""`drift import` reads files that pyarrow wrote (not only drift's own exports).

Run by scripts/test-arrow.sh:  python ffi/tests/test_cli_pyarrow_files.py <path-to-drift-binary>

pyarrow writes the same 300 vectors as Parquet (zstd, List<float32> vectors, int64 ids),
Parquet (snappy, FixedSizeList, 16-byte ids), an Arrow IPC file (lz4) and an Arrow IPC
stream, plus a float16 .npy; each is imported into its own collection and searched
exactly, and the hits must be the ids pyarrow wrote.
"""
import json
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

drift = sys.argv[1]
DIM, ROWS = 16, 300
rng = np.random.default_rng(11)
vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
ids = np.arange(1000, 1000 + ROWS, dtype=np.int64)


def run(*args, stdin=None):
    p = subprocess.run([drift, *args], input=stdin, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"FAILED: drift {' '.join(args)}\n{p.stdout}{p.stderr}")
        sys.exit(1)
    return p.stdout


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}")
        sys.exit(1)
    print(f"ok: {what}")


with tempfile.TemporaryDirectory() as tmp:
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM)
    lists = pa.array([list(v) for v in vectors], type=pa.list_(pa.float32()))
    ids16 = pa.array([int(i).to_bytes(16, "little") for i in ids], type=pa.binary(16))
    spans = {"start": pa.array(np.arange(ROWS, dtype=np.int32) * 3), "length": pa.array(np.full(ROWS, 3, dtype=np.int32))}

    files = {
        "parquet_zstd_list": (f"{tmp}/a.parquet", lambda p: pq.write_table(
            pa.table({"document_id": pa.array(ids), "vector": lists, **spans}), p, compression="zstd")),
        "parquet_snappy_fixed": (f"{tmp}/b.parquet", lambda p: pq.write_table(
            pa.table({"document_id": ids16, "vector": fixed, **spans}), p, compression="snappy")),
        "arrow_file_lz4": (f"{tmp}/c.arrow", lambda p: feather.write_feather(
            pa.table({"document_id": pa.array(ids), "vector": fixed, **spans}), p, compression="lz4")),
        "arrow_stream": (f"{tmp}/d.arrows", None),
    }
    with pa.OSFile(files["arrow_stream"][0], "wb") as sink:
        table = pa.table({"document_id": pa.array(ids.astype(np.uint64)), "vector": fixed, **spans})
        with pa.ipc.new_stream(sink, table.schema) as w:
            for batch in table.to_batches(max_chunksize=128):
                w.write_batch(batch)
    for name, (path, write) in files.items():
        if write:
            write(path)

    db = f"{tmp}/db"
    for name, (path, _) in files.items():
        out = run("import", db, name, path, "--create", "--quiet")
        check(f"imported {ROWS} rows" in out, f"{name}: pyarrow's file imports ({out.splitlines()[0]})")
    np.save(f"{tmp}/e.npy", vectors.astype(np.float16))
    run("import", db, "npy_f16", f"{tmp}/e.npy", "--create", "--first-id", "1000", "--quiet")

    queries = "\n".join(", ".join(f"{x:.7g}" for x in vectors[i]) for i in (0, 150, 299)) + "\n"
    for name in [*files, "npy_f16"]:
        lines = run("search", db, name, "-k", "1", "--exact", "--json", stdin=queries).splitlines()
        got = [json.loads(l)["hits"][0] for l in lines]
        check([h["document_id"] for h in got] == ["1000", "1150", "1299"], f"{name}: each query finds its own row's id")
        if name != "npy_f16":
            check(got[1]["start"] == 450 and got[1]["length"] == 3, f"{name}: spans were read")
    check("healthy" in run("verify", db), "the database verifies healthy")
print("CLI import of pyarrow-written files: all passed")
