#!/usr/bin/env python3
"""Generates the C ABI matrix test from include/drift.h (written to stdout).

Every function the header declares is called with valid arguments, then with each
parameter in turn replaced by each bad value of its kind: NULL for every pointer, a
freed, a made-up and a wrong-kind handle, a closed database, zero and overflowing
lengths, unaligned float buffers, empty and over-long strings. Each call runs on fresh
handles; the program is built with AddressSanitizer and UndefinedBehaviorSanitizer, so
a crash or a sanitizer report fails it. Every status returned must be a code the header
defines. A final section hammers one database from 8 threads while another thread
closes it.

A parameter this script has no values for stops it with an error naming the function:
a new function cannot be left out of the matrix.

usage: scripts/abi-matrix.py include/drift.h > abi_matrix.c
"""
import re
import sys

# (type as written without "const", pointer depth, parameter name) -> (valid C
# expression, [bad C expressions]). `C` is the per-call context (see PRELUDE).
HANDLE_BAD = {
    "db": ["NULL", "(struct drift_db *)C.freed_db", "(struct drift_db *)C.c", "(struct drift_db *)(uintptr_t)0x1000"],
    "collection": ["NULL", "C.freed_c", "(struct drift_collection *)C.db", "(struct drift_collection *)(uintptr_t)0x1000"],
    "results": ["NULL", "C.freed_results", "(struct drift_results *)C.list", "(struct drift_results *)(uintptr_t)0x1000"],
    "list": ["NULL", "C.freed_list", "(struct drift_string_list *)C.results", "(struct drift_string_list *)(uintptr_t)0x1000"],
    "error": ["NULL", "C.freed_error", "(struct drift_error *)C.db", "(struct drift_error *)(uintptr_t)0x1000"],
}
OVERFLOW = ["0", "SIZE_MAX", "SIZE_MAX / 2 + 1", "((size_t)1 << 62)"]
VALUES = {
    ("drift_db", 1, "db"): ("C.db", HANDLE_BAD["db"] + ["C.closed_db"]),
    ("drift_collection", 1, "collection"): ("C.c", HANDLE_BAD["collection"] + ["C.c_of_closed"]),
    ("drift_results", 1, "results"): ("C.results", HANDLE_BAD["results"]),
    ("drift_string_list", 1, "list"): ("C.list", HANDLE_BAD["list"]),
    ("drift_error", 1, "error"): ("C.error", HANDLE_BAD["error"]),
    ("drift_error", 2, "err"): ("&C.err", ["NULL"]),
    ("char", 1, "path"): ("C.path", ["NULL", '""', "C.long_string"]),
    ("char", 1, "name"): ('"c"', ["NULL", '""', "C.long_string", '"missing"']),
    ("char", 1, "filter"): ('""', ['"size <"', '"missing == 1"', "C.long_string"]),
    ("char", 1, "schema"): ('"size:u64, tags:tags"', ['"size"', '"size:int"', '"size:u64, size:u64"', "C.long_string"]),
    ("char", 1, "values"): ('"size=5"', ["NULL", '"missing=1"', '"size=-1"', '"size"', "C.long_string"]),
    ("char", 1, "attribute"): ('"extra:u64"', ["NULL", '"extra"', '"and:u64"', "C.long_string"]),
    ("char", 2, "attributes"): ("NULL", ['(const char *const[]){"missing=1", NULL}', '(const char *const[]){NULL, C.long_string}']),
    ("float", 1, "vectors"): ("C.vectors", ["NULL", "C.unaligned"]),
    ("float", 1, "query"): ("C.vectors", ["NULL", "C.unaligned"]),
    ("float", 1, "queries"): ("C.vectors", ["NULL", "C.unaligned"]),
    ("uint8_t", 1, "document_ids"): ("C.ids", ["NULL"]),
    ("uint8_t", 1, "document_id"): ("C.ids", ["NULL"]),
    ("uint8_t", 1, "out_document_ids"): ("C.out_ids", ["NULL"]),
    ("uint32_t", 1, "starts"): ("C.starts", ["NULL", "C.unaligned_u32"]),
    ("uint32_t", 1, "lengths"): ("C.lengths", ["NULL", "C.unaligned_u32"]),
    ("size_t", 0, "count"): ("2", OVERFLOW),
    ("size_t", 0, "query_count"): ("2", OVERFLOW),
    ("size_t", 0, "dimension"): ("4", ["0", "3", "SIZE_MAX", "((size_t)1 << 40)"]),
    ("size_t", 0, "index"): ("0", ["1", "SIZE_MAX"]),
    ("size_t", 0, "capacity"): ("8", ["0", "1"]),
    ("uint32_t", 0, "dimension"): ("4", ["0", "UINT32_MAX", "65536"]),
    ("uint32_t", 0, "metric"): ("DRIFT_METRIC_L2", ["0", "99", "UINT32_MAX"]),
    ("uint64_t", 0, "budget_ms"): ("5", ["0"]),
    ("drift_db", 2, "out_db"): ("&C.out_db", ["NULL"]),
    ("drift_collection", 2, "out_collection"): ("&C.out_c", ["NULL"]),
    ("drift_results", 2, "out_results"): ("&C.out_results", ["NULL"]),
    ("drift_string_list", 2, "out_list"): ("&C.out_list", ["NULL"]),
    ("size_t", 1, "out_count"): ("&C.out_count", ["NULL"]),
    ("uint64_t", 1, "out_count"): ("&C.out_u64", ["NULL"]),
    ("size_t", 1, "out_added"): ("&C.out_count", ["NULL"]),
    ("uint64_t", 1, "out_added"): ("&C.out_u64", ["NULL"]),
    ("drift_hit", 1, "out_hits"): ("C.hits", ["NULL"]),
    ("drift_hit", 2, "out_hits"): ("&C.const_hits", ["NULL"]),
    ("drift_options", 1, "out"): ("&C.options", ["NULL"]),
    ("drift_options", 1, "options"): ("&C.options", ["NULL", "&C.bad_options"]),
    ("drift_search_options", 1, "options"): ("&C.search_options", ["NULL", "&C.bad_search_options"]),
    ("drift_object_store_options", 1, "out"): ("&C.store_options", ["NULL"]),
    ("drift_object_store_options", 1, "object_store"): ("&C.store_options", ["NULL", "&C.bad_store_options"]),
    ("drift_db_stats", 1, "out"): ("&C.db_stats", ["NULL"]),
    ("drift_collection_stats", 1, "out"): ("&C.collection_stats", ["NULL"]),
    ("drift_tier_stats", 1, "out"): ("&C.tier_stats", ["NULL"]),
    ("ArrowArray", 1, "array"): ("&C.released_array", ["NULL"]),
    ("ArrowSchema", 1, "schema"): ("&C.released_schema", ["NULL"]),
    ("ArrowArrayStream", 1, "stream"): ("&C.released_stream", ["NULL"]),
    ("ArrowArrayStream", 1, "out_stream"): ("&C.out_stream", ["NULL"]),
}

PRELUDE = r"""/* Generated by scripts/abi-matrix.py from include/drift.h: do not edit. */
#define _GNU_SOURCE
#include "drift.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int calls = 0, failures = 0;

/* Every handle, buffer and struct a call may be given. */
typedef struct {
    char dir[128], path[192];
    struct drift_db *db, *closed_db, *freed_db, *out_db;
    struct drift_collection *c, *c_of_closed, *freed_c, *out_c;
    struct drift_results *results, *freed_results, *out_results;
    struct drift_string_list *list, *freed_list, *out_list;
    struct drift_error *error, *freed_error, *err;
    float vectors[64];
    float *unaligned;
    uint32_t *unaligned_u32;
    unsigned char raw[512];
    uint8_t ids[64], out_ids[64];
    uint32_t starts[4], lengths[4];
    struct drift_hit hits[8];
    const struct drift_hit *const_hits;
    size_t out_count;
    uint64_t out_u64;
    struct drift_options options, bad_options;
    struct drift_search_options search_options, bad_search_options;
    struct drift_object_store_options store_options, bad_store_options;
    struct drift_db_stats db_stats;
    struct drift_collection_stats collection_stats;
    struct drift_tier_stats tier_stats;
    struct ArrowArray released_array;
    struct ArrowSchema released_schema;
    struct ArrowArrayStream released_stream, out_stream;
    char long_string[8192];
} context;

static int counter = 0;

static struct drift_db *open_db(const char *dir) {
    struct drift_options o;
    drift_options_default(&o);
    o.background_threads = 0;
    o.wal_segment_bytes = 65536;
    o.wal_ring_segments = 2;
    struct drift_db *db = NULL;
    if (drift_open(dir, &o, &db, NULL) != DRIFT_OK) {
        fprintf(stderr, "setup: cannot open %s\n", dir);
        exit(2);
    }
    return db;
}

static void setup(context *C) {
    memset(C, 0, sizeof *C);
    snprintf(C->dir, sizeof C->dir, "/tmp/drift-abi-%d-%d", (int)getpid(), counter++);
    snprintf(C->path, sizeof C->path, "%s/other", C->dir);
    char db_dir[160], closed_dir[160];
    snprintf(db_dir, sizeof db_dir, "%s/db", C->dir);
    snprintf(closed_dir, sizeof closed_dir, "%s/closed", C->dir);
    C->db = open_db(db_dir);
    for (int i = 0; i < 64; i++) C->vectors[i] = (float)(i % 7) * 0.25f;
    for (int i = 0; i < 64; i++) C->ids[i] = (uint8_t)(i % 16 == 0 ? 1 + i / 16 : 0);
    for (int i = 0; i < 4; i++) { C->starts[i] = (uint32_t)i; C->lengths[i] = 1; }
    C->unaligned = (float *)(void *)(C->raw + 1);
    C->unaligned_u32 = (uint32_t *)(void *)(C->raw + 3);
    if (drift_collection_create(C->db, "c", 4, DRIFT_METRIC_L2, &C->c, NULL) != DRIFT_OK ||
        drift_add(C->c, C->ids, NULL, NULL, C->vectors, 2, 4, NULL, NULL) != DRIFT_OK) {
        fprintf(stderr, "setup: cannot fill the collection\n");
        exit(2);
    }
    drift_search_options so = {.k = 2};
    C->search_options = so;
    drift_search_options bad = {.k = 0, .rerank_factor = 100000};
    C->bad_search_options = bad;
    drift_options_default(&C->options);
    C->options.background_threads = 0;
    C->options.wal_segment_bytes = 65536;
    C->options.wal_ring_segments = 2;
    C->bad_options = C->options;
    C->bad_options.sync_policy = 77;
    C->bad_options.wal_segment_bytes = 3;
    drift_object_store_options_default(&C->store_options);
    C->bad_store_options = C->store_options;
    C->bad_store_options.mode = 99;
    drift_search_batch(C->c, C->vectors, 2, 4, &C->search_options, &C->results, NULL);
    drift_collection_list(C->db, &C->list, NULL);
    drift_collection_open(C->db, "missing", &C->out_c, &C->error);
    /* Handles already freed, and a database closed with a collection still open. */
    C->closed_db = open_db(closed_dir);
    drift_collection_create(C->closed_db, "c", 4, DRIFT_METRIC_L2, &C->c_of_closed, NULL);
    drift_close(C->closed_db, NULL);
    C->freed_db = C->closed_db;
    drift_collection_open(C->db, "c", &C->freed_c, NULL);
    drift_collection_free(C->freed_c);
    drift_search_batch(C->c, C->vectors, 1, 4, &C->search_options, &C->freed_results, NULL);
    drift_results_free(C->freed_results);
    drift_collection_list(C->db, &C->freed_list, NULL);
    drift_string_list_free(C->freed_list);
    drift_collection_open(C->db, "missing", &C->out_c, &C->freed_error);
    drift_error_free(C->freed_error);
    memset(C->long_string, 'a', sizeof C->long_string - 1);
}

static void teardown(context *C) {
    drift_results_free(C->results);
    drift_results_free(C->out_results);
    drift_string_list_free(C->list);
    drift_string_list_free(C->out_list);
    drift_error_free(C->error);
    drift_error_free(C->err);
    drift_collection_free(C->c);
    drift_collection_free(C->out_c);
    drift_collection_free(C->c_of_closed);
    drift_close(C->db, NULL);
    drift_close(C->out_db, NULL);
    if (C->out_stream.release) C->out_stream.release(&C->out_stream);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", C->dir);
    if (system(cmd) != 0) fprintf(stderr, "teardown: cannot remove %s\n", C->dir);
}

/* A status must be one the header defines. */
static void status(const char *call, int32_t s) {
    calls++;
    if (s < DRIFT_OK || s > DRIFT_EBUSY) {
        fprintf(stderr, "%s returned %d, which drift.h does not define\n", call, (int)s);
        failures++;
    }
}
"""

CONCURRENT = r"""
/* 8 threads on one database: searches, adds, stats, flushes, maintenance, handles
 * opened and freed; then the database is closed under them. Every call must return a
 * defined status (ECLOSED once closed), never crash. */
static struct drift_db *shared_db;

static void *hammer(void *arg) {
    intptr_t t = (intptr_t)arg;
    float v[8] = {1, 2, 3, (float)t, 0, 1, 0, 1};
    uint8_t id[32] = {(uint8_t)(t + 1)};
    for (int i = 0; i < 300; i++) {
        struct drift_collection *c = NULL;
        struct drift_error *err = NULL;
        status("drift_collection_open", drift_collection_open(shared_db, "c", &c, &err));
        drift_error_free(err);
        struct drift_hit hits[4];
        size_t n = 0;
        drift_search_options so = {.k = 4};
        status("drift_search", drift_search(c, v, 4, &so, hits, 4, &n, NULL));
        status("drift_add", drift_add(c, id, NULL, NULL, v, 1, 4, NULL, NULL));
        struct drift_results *r = NULL;
        status("drift_search_batch", drift_search_batch(c, v, 2, 4, &so, &r, NULL));
        const struct drift_hit *rh = NULL;
        status("drift_results_get", drift_results_get(r, 1, &rh, &n, NULL));
        drift_results_free(r);
        struct drift_db_stats ds;
        status("drift_db_stats_get", drift_db_stats_get(shared_db, &ds, NULL));
        struct drift_collection_stats cs;
        status("drift_collection_stats_get", drift_collection_stats_get(c, &cs, NULL));
        if (i % 50 == (int)t) status("drift_flush", drift_flush(shared_db, NULL));
        if (i % 100 == (int)t) status("drift_maintain", drift_maintain(shared_db, 2, NULL));
        if (i % 60 == (int)t) status("drift_remove", drift_remove(c, id, 1, NULL));
        struct drift_string_list *l = NULL;
        status("drift_collection_list", drift_collection_list(shared_db, &l, NULL));
        (void)drift_string_list_get(l, 0);
        drift_string_list_free(l);
        drift_collection_free(c);
    }
    return NULL;
}

static void concurrent_use_and_close(void) {
    context C;
    setup(&C);
    shared_db = C.db;
    pthread_t threads[8];
    for (intptr_t t = 0; t < 8; t++) pthread_create(&threads[t], NULL, hammer, (void *)t);
    usleep(200 * 1000);
    status("drift_close", drift_close(shared_db, NULL));
    for (int t = 0; t < 8; t++) pthread_join(threads[t], NULL);
    teardown(&C);
}
"""


def parse(header):
    text = re.sub(r"/\*.*?\*/", "", open(header).read(), flags=re.S)
    functions = []
    for ret, name, params in re.findall(r"^([a-zA-Z_][\w \*]*?)\b(drift_\w+)\s*\(([^)]*)\)\s*;", text, flags=re.M | re.S):
        args = []
        for p in params.split(","):
            p = " ".join(p.split())
            if p in ("", "void"):
                continue
            m = re.match(r"(?:const )?(?:struct )?(\w+)\s*((?:\*\s*(?:const\s*)?)*)(\w+)$", p)
            if not m:
                sys.exit(f"abi-matrix: cannot parse parameter {p!r} of {name}")
            args.append((m.group(1), m.group(2).count("*"), m.group(3)))
        functions.append((" ".join(ret.split()), name, args))
    return functions


def main():
    functions = parse(sys.argv[1])
    if not functions:
        sys.exit("abi-matrix: no functions found in the header")
    out = [PRELUDE]
    cases = []
    for ret, name, args in functions:
        valid = []
        for t, depth, pname in args:
            key = (t, depth, pname)
            if key not in VALUES:
                sys.exit(f"abi-matrix: no values for parameter {pname} ({t}{'*' * depth}) of {name}: add them to VALUES")
            valid.append(VALUES[key])
        variants = [[v for v, _ in valid]]
        for i, (_, bad) in enumerate(valid):
            for b in bad:
                call = [v for v, _ in valid]
                call[i] = b
                variants.append(call)
        for n, call in enumerate(variants):
            fn = f"case_{name}_{n}"
            expr = f"{name}({', '.join(a.replace('C.', 'C->') for a in call)})"
            label = f"{name}({', '.join(call)})".replace('"', '\\"')
            body = f'    status("{label}", {expr});' if ret.startswith("int32_t") else f"    (void){expr};" if ret != "void" else f"    {expr};"
            out.append(f"static void {fn}(context *C) {{\n    (void)C;\n{body}\n}}\n")
            cases.append(fn)
    out.append(CONCURRENT)
    out.append("int main(void) {\n    context C;\n")
    for fn in cases:
        out.append(f"    setup(&C); {fn}(&C); teardown(&C);\n")
    out.append("    concurrent_use_and_close();\n")
    out.append(f'    printf("C ABI matrix: %d functions, {len(cases)} argument cases, %d calls, %d failures\\n", {len(functions)}, calls, failures);\n')
    out.append("    return failures ? 1 : 0;\n}\n")
    sys.stdout.write("".join(out))


main()
