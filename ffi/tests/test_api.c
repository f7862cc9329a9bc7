/*
 * The C API from a real C program, under AddressSanitizer: lifecycle, persistence,
 * every error path, a database locked by another process, and concurrent searches
 * while one thread writes.
 */
#define _GNU_SOURCE
#include "drift.h"
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void id_of(uint64_t n, uint8_t out[16]) {
    memset(out, 0, 16);
    memcpy(out, &n, sizeof n); /* little-endian u128 with the high half zero */
}

static uint64_t id_value(const uint8_t id[16]) {
    uint64_t n;
    memcpy(&n, id, sizeof n);
    return n;
}

static void test_version(void) {
    const char *v = drift_version();
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", DRIFT_VERSION_MAJOR, DRIFT_VERSION_MINOR, DRIFT_VERSION_PATCH);
    CHECK(v != NULL && strcmp(v, expected) == 0);
}

static void test_lifecycle(void) {
    char *dir = temp_dir();
    drift_db *db = NULL;
    drift_error *err = NULL;
    CHECK(drift_open(dir, NULL, &db, &err) == DRIFT_OK && db != NULL && err == NULL);

    drift_collection *c = NULL;
    CHECK(drift_collection_create(db, "docs", 4, DRIFT_METRIC_L2, &c, NULL) == DRIFT_OK);
    float vectors[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
    uint8_t ids[48];
    id_of(7, ids);
    id_of(7, ids + 16);
    id_of(9, ids + 32);
    uint32_t starts[3] = {0, 100, 0}, lengths[3] = {100, 50, 10};
    CHECK(drift_add(c, ids, starts, lengths, vectors, 3, 4, NULL, NULL) == DRIFT_OK);

    /* Generated ids are returned. */
    uint8_t generated[16] = {0};
    float v4[4] = {0, 0, 0, 1};
    CHECK(drift_add(c, NULL, NULL, NULL, v4, 1, 4, generated, NULL) == DRIFT_OK);
    CHECK(id_value(generated) != 0 || generated[15] != 0);

    float q[4] = {0.9f, 0.1f, 0, 0};
    drift_search_options opts = {.k = 2, .one_per_document = 0};
    drift_hit hits[2];
    size_t count = 0;
    CHECK(drift_search(c, q, 4, &opts, hits, 2, &count, NULL) == DRIFT_OK);
    CHECK(count == 2 && id_value(hits[0].document_id) == 7 && hits[0].start == 0 && hits[0].length == 100);
    CHECK(fabsf(hits[0].distance - 0.02f) < 1e-5f);
    CHECK(id_value(hits[1].document_id) == 7 && hits[1].start == 100);

    opts.one_per_document = 1;
    CHECK(drift_search(c, q, 4, &opts, hits, 2, &count, NULL) == DRIFT_OK);
    CHECK(count == 2 && id_value(hits[0].document_id) == 7 && id_value(hits[1].document_id) != 7);

    /* The probe knobs pass through (this collection is not indexed yet, so every row is
       still scanned exactly). */
    opts.nprobe = 4;
    opts.probe_patience = 2;
    CHECK(drift_search(c, q, 4, &opts, hits, 2, &count, NULL) == DRIFT_OK);
    CHECK(count == 2 && id_value(hits[0].document_id) == 7);
    opts.nprobe = 0;
    opts.probe_patience = 0;

    /* Batch search into a results handle. */
    float queries[8] = {1, 0, 0, 0, 0, 0, 1, 0};
    drift_results *results = NULL;
    opts.k = 1;
    opts.one_per_document = 0;
    CHECK(drift_search_batch(c, queries, 2, 4, &opts, &results, NULL) == DRIFT_OK);
    CHECK(drift_results_count(results) == 2);
    const drift_hit *rh = NULL;
    CHECK(drift_results_get(results, 1, &rh, &count, NULL) == DRIFT_OK && count == 1 && id_value(rh[0].document_id) == 9);
    EXPECT_STATUS(drift_results_get(results, 2, &rh, &count, NULL), DRIFT_EINVAL);
    drift_results_free(results);
    drift_results_free(results); /* double free is ignored */

    /* Upsert replaces both postings of document 7; remove drops document 9. */
    uint8_t seven[16];
    id_of(7, seven);
    float nv[4] = {0, 1, 1, 0};
    CHECK(drift_upsert(c, seven, NULL, NULL, nv, 1, 4, NULL) == DRIFT_OK);
    uint8_t nine[16];
    id_of(9, nine);
    CHECK(drift_remove(c, nine, 1, NULL) == DRIFT_OK);
    CHECK(drift_flush(db, NULL) == DRIFT_OK);

    drift_collection_stats cs;
    CHECK(drift_collection_stats_get(c, &cs, NULL) == DRIFT_OK);
    CHECK(cs.dimension == 4 && cs.shard_rows >= 2 && cs.memtable_rows == 0);
    CHECK(drift_compact(c, NULL) == DRIFT_OK);
    CHECK(drift_maintain(db, 100, NULL) == DRIFT_OK);
    EXPECT_STATUS(drift_maintain(NULL, 100, NULL), DRIFT_ECLOSED);
    drift_db_stats ds;
    CHECK(drift_db_stats_get(db, &ds, NULL) == DRIFT_OK && ds.collections == 1 && ds.flushes >= 1 && ds.poisoned == 0);

    drift_string_list *names = NULL;
    CHECK(drift_collection_create(db, "other", 2, DRIFT_METRIC_COSINE, NULL, NULL) == DRIFT_EINVAL);
    drift_collection *other = NULL;
    CHECK(drift_collection_create(db, "other", 2, DRIFT_METRIC_COSINE, &other, NULL) == DRIFT_OK);
    CHECK(drift_collection_list(db, &names, NULL) == DRIFT_OK);
    CHECK(drift_string_list_len(names) == 2);
    CHECK(strcmp(drift_string_list_get(names, 0), "docs") == 0 && strcmp(drift_string_list_get(names, 1), "other") == 0);
    CHECK(drift_string_list_get(names, 2) == NULL);
    drift_string_list_free(names);
    CHECK(drift_collection_drop(db, "other", NULL) == DRIFT_OK);
    EXPECT_STATUS(drift_search(other, v4, 2, &opts, hits, 2, &count, NULL), DRIFT_ECLOSED);
    drift_collection_free(other);

    drift_collection_free(c);
    CHECK(drift_close(db, NULL) == DRIFT_OK);

    /* Reopen: everything acknowledged is there. */
    db = NULL;
    CHECK(drift_open(dir, NULL, &db, NULL) == DRIFT_OK);
    c = NULL;
    CHECK(drift_collection_open(db, "docs", &c, NULL) == DRIFT_OK);
    opts.k = 10;
    drift_hit all[10];
    CHECK(drift_search(c, q, 4, &opts, all, 10, &count, NULL) == DRIFT_OK);
    CHECK(count == 2); /* document 7 (one posting after upsert) and the generated one */
    drift_collection_free(c);
    CHECK(drift_close(db, NULL) == DRIFT_OK);
    free(dir);
}

static void test_error_paths(void) {
    char *dir = temp_dir();
    drift_db *db = NULL;
    /* An empty path is refused before anything is written (no LOCK or MANIFEST here). */
    int had_manifest = access("MANIFEST", F_OK) == 0;
    EXPECT_STATUS(drift_open("", NULL, &db, NULL), DRIFT_EINVAL);
    CHECK(db == NULL && (access("MANIFEST", F_OK) == 0) == had_manifest);
    CHECK(drift_open(dir, NULL, &db, NULL) == DRIFT_OK);
    drift_collection *c = NULL;
    CHECK(drift_collection_create(db, "c", 3, DRIFT_METRIC_L2, &c, NULL) == DRIFT_OK);
    float v[3] = {1, 2, 3};
    float q[3] = {1, 2, 3};
    drift_search_options opts = {.k = 1};
    drift_hit hit;
    size_t count = 12345;

    /* An error carries a code and a message; out-parameters stay untouched. */
    drift_error *err = NULL;
    float wrong[2] = {1, 2};
    CHECK(drift_add(c, NULL, NULL, NULL, wrong, 1, 2, NULL, &err) == DRIFT_EDIMENSION);
    CHECK(err != NULL && drift_error_code(err) == DRIFT_EDIMENSION);
    CHECK(strstr(drift_error_message(err), "dimension") != NULL);
    drift_error_free(err);
    drift_error_free(err); /* ignored */
    CHECK(drift_error_code(err) == DRIFT_ECLOSED);

    float nan_v[3] = {1, NAN, 3};
    EXPECT_STATUS(drift_add(c, NULL, NULL, NULL, nan_v, 1, 3, NULL, NULL), DRIFT_ENONFINITE);
    float inf_q[3] = {INFINITY, 0, 0};
    EXPECT_STATUS(drift_search(c, inf_q, 3, &opts, &hit, 1, &count, NULL), DRIFT_ENONFINITE);
    CHECK(count == 12345);
    EXPECT_STATUS(drift_add(c, NULL, NULL, NULL, NULL, 1, 3, NULL, NULL), DRIFT_EINVAL);
    CHECK(drift_add(c, NULL, NULL, NULL, NULL, 0, 3, NULL, NULL) == DRIFT_OK); /* NULL + 0 = empty */
    CHECK(drift_remove(c, NULL, 0, NULL) == DRIFT_OK);
    EXPECT_STATUS(drift_remove(c, NULL, 1, NULL), DRIFT_EINVAL);
    opts.k = 0;
    EXPECT_STATUS(drift_search(c, q, 3, &opts, &hit, 1, &count, NULL), DRIFT_EINVAL);
    opts.k = 2;
    EXPECT_STATUS(drift_search(c, q, 3, &opts, &hit, 1, &count, NULL), DRIFT_EINVAL); /* capacity < k */
    EXPECT_STATUS(drift_search(c, q, 3, NULL, &hit, 1, &count, NULL), DRIFT_EINVAL);
    CHECK(count == 12345);

    drift_collection *missing = (drift_collection *)0x1;
    EXPECT_STATUS(drift_collection_open(db, "missing", &missing, NULL), DRIFT_ENOTFOUND);
    CHECK(missing == (drift_collection *)0x1);
    EXPECT_STATUS(drift_collection_open(db, NULL, &missing, NULL), DRIFT_EINVAL);
    EXPECT_STATUS(drift_collection_create(db, "bad name", 3, DRIFT_METRIC_L2, &missing, NULL), DRIFT_EINVAL);
    EXPECT_STATUS(drift_collection_create(db, "c", 3, DRIFT_METRIC_L2, &missing, NULL), DRIFT_EEXISTS);
    EXPECT_STATUS(drift_collection_create(db, "m", 3, 99, &missing, NULL), DRIFT_EINVAL);
    EXPECT_STATUS(drift_collection_create(db, "z", 0, DRIFT_METRIC_L2, &missing, NULL), DRIFT_EINVAL);
    CHECK(missing == (drift_collection *)0x1);

    /* NULL, made-up, freed and closed handles never crash. */
    EXPECT_STATUS(drift_add(NULL, NULL, NULL, NULL, v, 1, 3, NULL, NULL), DRIFT_ECLOSED);
    EXPECT_STATUS(drift_flush(NULL, NULL), DRIFT_ECLOSED);
    EXPECT_STATUS(drift_flush((drift_db *)(uintptr_t)0xdeadbeef, NULL), DRIFT_ECLOSED);
    /* Handles are not small sequential numbers: made-up ones name nothing, even while
       this database and its collection are open. */
    for (uintptr_t guess = 1; guess <= 64; guess++) {
        EXPECT_STATUS(drift_flush((drift_db *)guess, NULL), DRIFT_ECLOSED);
        EXPECT_STATUS(drift_add((drift_collection *)guess, NULL, NULL, NULL, v, 1, 3, NULL, NULL), DRIFT_ECLOSED);
    }
    EXPECT_STATUS(drift_flush((drift_db *)((uintptr_t)db + 1), NULL), DRIFT_ECLOSED);
    EXPECT_STATUS(drift_flush((drift_db *)c, NULL), DRIFT_ECLOSED); /* a collection is not a database */
    drift_error_free((drift_error *)c);                             /* ignored: not an error handle */
    CHECK(drift_add(c, NULL, NULL, NULL, v, 1, 3, NULL, NULL) == DRIFT_OK);
    drift_collection *c2 = NULL;
    CHECK(drift_collection_open(db, "c", &c2, NULL) == DRIFT_OK);
    drift_collection_free(c2);
    EXPECT_STATUS(drift_add(c2, NULL, NULL, NULL, v, 1, 3, NULL, NULL), DRIFT_ECLOSED);
    drift_collection_free(c2);
    drift_options bad;
    drift_options_default(&bad);
    bad.wal_segment_bytes = 1000;
    drift_db *db2 = NULL;
    EXPECT_STATUS(drift_open("/tmp/drift-c-never-created", &bad, &db2, NULL), DRIFT_EINVAL);
    CHECK(db2 == NULL);
    EXPECT_STATUS(drift_open(NULL, NULL, &db2, NULL), DRIFT_EINVAL);

    CHECK(drift_close(db, NULL) == DRIFT_OK);
    EXPECT_STATUS(drift_close(db, NULL), DRIFT_ECLOSED);
    EXPECT_STATUS(drift_add(c, NULL, NULL, NULL, v, 1, 3, NULL, NULL), DRIFT_ECLOSED);
    EXPECT_STATUS(drift_search(c, q, 3, &opts, &hit, 1, &count, NULL), DRIFT_ECLOSED);
    drift_collection_free(c);
    CHECK(drift_close(NULL, NULL) == DRIFT_OK);
    free(dir);
}

static void test_locked_by_another_process(void) {
    char *dir = temp_dir();
    drift_db *db = NULL;
    CHECK(drift_open(dir, NULL, &db, NULL) == DRIFT_OK);
    pid_t pid = fork();
    if (pid == 0) {
        drift_db *other = NULL;
        drift_error *err = NULL;
        int32_t s = drift_open(dir, NULL, &other, &err);
        int ok = s == DRIFT_ELOCKED && other == NULL && strstr(drift_error_message(err), "locked") != NULL;
        drift_error_free(err);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(drift_close(db, NULL) == DRIFT_OK);
    free(dir);
}

#define WRITES 300
#define ROWS 4
static atomic_int acknowledged;
static drift_collection *shared;

static void vector_of(int batch, int row, float out[8]) {
    for (int j = 0; j < 8; j++) out[j] = (float)((batch * 31 + row * 7 + j * 13) % 97) / 97.0f + (float)batch;
}

static void *writer(void *arg) {
    (void)arg;
    for (int b = 0; b < WRITES; b++) {
        float vs[ROWS * 8];
        uint8_t ids[ROWS * 16];
        for (int r = 0; r < ROWS; r++) {
            vector_of(b, r, vs + r * 8);
            id_of((uint64_t)(b * ROWS + r + 1), ids + r * 16);
        }
        if (drift_add(shared, ids, NULL, NULL, vs, ROWS, 8, NULL, NULL) != DRIFT_OK) {
            failures++;
            return NULL;
        }
        atomic_store(&acknowledged, b + 1);
    }
    return NULL;
}

static void *searcher(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    drift_search_options opts = {.k = 1};
    while (atomic_load(&acknowledged) < WRITES) {
        int n = atomic_load(&acknowledged);
        if (n == 0) continue;
        int b = (int)(rand_r(&seed) % (unsigned)n), r = (int)(rand_r(&seed) % ROWS);
        float q[8];
        vector_of(b, r, q);
        drift_hit hit;
        size_t count = 0;
        if (drift_search(shared, q, 8, &opts, &hit, 1, &count, NULL) != DRIFT_OK || count != 1 ||
            id_value(hit.document_id) != (uint64_t)(b * ROWS + r + 1) || hit.distance != 0.0f) {
            fprintf(stderr, "acknowledged posting %d/%d not found\n", b, r);
            failures++;
            return NULL;
        }
    }
    return NULL;
}

static void test_concurrent_searches_while_writing(void) {
    char *dir = temp_dir();
    drift_options options;
    drift_options_default(&options);
    options.memtable_flush_bytes = 16 << 10; /* flushes happen during the test */
    drift_db *db = NULL;
    CHECK(drift_open(dir, &options, &db, NULL) == DRIFT_OK);
    CHECK(drift_collection_create(db, "c", 8, DRIFT_METRIC_L2, &shared, NULL) == DRIFT_OK);
    pthread_t w, s[4];
    pthread_create(&w, NULL, writer, NULL);
    for (uintptr_t i = 0; i < 4; i++) pthread_create(&s[i], NULL, searcher, (void *)(i + 1));
    pthread_join(w, NULL);
    for (int i = 0; i < 4; i++) pthread_join(s[i], NULL);
    drift_db_stats st;
    CHECK(drift_db_stats_get(db, &st, NULL) == DRIFT_OK && st.wal_records == WRITES);
    drift_collection_free(shared);
    CHECK(drift_close(db, NULL) == DRIFT_OK);
    free(dir);
}

/* DRIFT_VECTOR_READS_PREAD: an indexed collection (4,096 rows of 160-d, the default
   index threshold) answers with exactly the hits, in the same order and with the same
   distances, whether re-ranked vectors are mapped or read with pread. */
#define WIDE_ROWS 4096
#define WIDE_DIM 160

static void search_all(drift_collection *c, const float *rows, drift_hit *out) {
    drift_search_options opts = {.k = 10, .nprobe = 6};
    for (int q = 0; q < 20; q++) {
        size_t count = 0;
        CHECK(drift_search(c, rows + (size_t)q * 97 * WIDE_DIM, WIDE_DIM, &opts, out + q * 10, 10, &count, NULL) == DRIFT_OK);
        CHECK(count == 10);
    }
}

static void test_pread_vector_reads(void) {
    char *dir = temp_dir();
    float *rows = malloc(sizeof(float) * WIDE_ROWS * WIDE_DIM);
    uint32_t state = 12345;
    for (int i = 0; i < WIDE_ROWS * WIDE_DIM; i++) {
        state = state * 1664525u + 1013904223u;
        rows[i] = (float)((i / WIDE_DIM) % 16) + (float)(state >> 8) / 16777216.0f;
    }
    drift_db *db = NULL;
    CHECK(drift_open(dir, NULL, &db, NULL) == DRIFT_OK);
    drift_collection *c = NULL;
    CHECK(drift_collection_create(db, "wide", WIDE_DIM, DRIFT_METRIC_L2, &c, NULL) == DRIFT_OK);
    for (int at = 0; at < WIDE_ROWS; at += 512) CHECK(drift_add(c, NULL, NULL, NULL, rows + (size_t)at * WIDE_DIM, 512, WIDE_DIM, NULL, NULL) == DRIFT_OK);
    CHECK(drift_flush(db, NULL) == DRIFT_OK);
    drift_collection_stats st;
    CHECK(drift_collection_stats_get(c, &st, NULL) == DRIFT_OK && st.shards > 8); /* indexed: one shard per centroid */
    static drift_hit mapped[200], pread[200];
    search_all(c, rows, mapped);
    drift_collection_free(c);
    CHECK(drift_close(db, NULL) == DRIFT_OK);

    drift_options options;
    drift_options_default(&options);
    CHECK(options.vector_reads == DRIFT_VECTOR_READS_MAPPED);
    options.vector_reads = 7;
    drift_error *err = NULL;
    EXPECT_STATUS(drift_open(dir, &options, &db, &err), DRIFT_EINVAL);
    CHECK(err != NULL && strstr(drift_error_message(err), "vector_reads") != NULL);
    drift_error_free(err);
    options.vector_reads = DRIFT_VECTOR_READS_PREAD;
    CHECK(drift_open(dir, &options, &db, NULL) == DRIFT_OK);
    CHECK(drift_collection_open(db, "wide", &c, NULL) == DRIFT_OK);
    search_all(c, rows, pread);
    CHECK(memcmp(mapped, pread, sizeof mapped) == 0);
    drift_collection_free(c);
    CHECK(drift_close(db, NULL) == DRIFT_OK);
    free(rows);
    free(dir);
}

/* A checkpoint taken while the source stays open opens as its own database with
   every acknowledged row; the source keeps accepting writes. */
static void test_checkpoint(void) {
    char *dir = temp_dir();
    char copy[512];
    snprintf(copy, sizeof copy, "%s/../%s-copy", dir, strrchr(dir, '/') + 1);
    drift_db *db = NULL;
    CHECK(drift_open(dir, NULL, &db, NULL) == DRIFT_OK);
    drift_collection *c = NULL;
    CHECK(drift_collection_create(db, "docs", 4, DRIFT_METRIC_L2, &c, NULL) == DRIFT_OK);
    float vectors[8] = {1, 0, 0, 0, 0, 1, 0, 0};
    CHECK(drift_add(c, NULL, NULL, NULL, vectors, 2, 4, NULL, NULL) == DRIFT_OK);
    drift_error *err = NULL;
    CHECK(drift_checkpoint(db, copy, &err) == DRIFT_OK && err == NULL);
    CHECK(drift_add(c, NULL, NULL, NULL, vectors, 1, 4, NULL, NULL) == DRIFT_OK);
    /* A second checkpoint into the same, now non-empty, directory is refused. */
    CHECK(drift_checkpoint(db, copy, &err) == DRIFT_EINVAL && err != NULL);
    drift_error_free(err);

    drift_db *restored = NULL;
    drift_collection *rc = NULL;
    CHECK(drift_open(copy, NULL, &restored, NULL) == DRIFT_OK);
    CHECK(drift_collection_open(restored, "docs", &rc, NULL) == DRIFT_OK);
    float q[4] = {1, 0, 0, 0};
    drift_search_options opts = {.k = 5};
    drift_hit hits[5];
    size_t count = 0;
    CHECK(drift_search(rc, q, 4, &opts, hits, 5, &count, NULL) == DRIFT_OK);
    CHECK(count == 2);
    drift_collection_free(rc);
    CHECK(drift_close(restored, NULL) == DRIFT_OK);
    drift_collection_free(c);
    CHECK(drift_close(db, NULL) == DRIFT_OK);
    free(dir);
}

/* Typed attributes and filtered search: a schema, values per posting, filters in the
 * text language, errors that name the byte, a schema that grows, and a reopen. */
static void test_filtering(void) {
    char *dir = temp_dir();
    drift_db *db = NULL;
    CHECK(drift_open(dir, NULL, &db, NULL) == DRIFT_OK);
    drift_collection *c = NULL;
    CHECK(drift_collection_create_with_schema(db, "docs", 2, DRIFT_METRIC_L2, "lang:string, size:u64, tags:tags", &c, NULL) == DRIFT_OK);
    float v[8] = {0, 1, 0, 0.9f, 1, 0, 0.9f, 0};
    uint8_t ids[64];
    for (int i = 0; i < 4; i++) id_of((uint64_t)i + 1, ids + 16 * i);
    const char *values[4] = {"lang=en\tsize=10\ttags=gui,x11", "lang=fr\tsize=20", NULL, "lang=en\tsize=400"};
    CHECK(drift_add_with_attributes(c, ids, NULL, NULL, v, values, 4, 2, NULL, NULL) == DRIFT_OK);

    float q[2] = {0, 1};
    drift_search_options opts = {.k = 4};
    drift_hit hits[4];
    size_t n = 0;
    CHECK(drift_search_filtered(c, q, 2, &opts, "lang == 'en'", hits, 4, &n, NULL) == DRIFT_OK);
    CHECK(n == 2 && id_value(hits[0].document_id) == 1 && id_value(hits[1].document_id) == 4);
    CHECK(drift_search_filtered(c, q, 2, &opts, "tags contains 'x11' or lang is null", hits, 4, &n, NULL) == DRIFT_OK);
    CHECK(n == 2 && id_value(hits[0].document_id) == 1 && id_value(hits[1].document_id) == 3);
    CHECK(drift_search_filtered(c, q, 2, &opts, NULL, hits, 4, &n, NULL) == DRIFT_OK && n == 4);

    /* Bad filters and bad values: DRIFT_EINVAL, a message naming the byte or the entry,
     * and nothing added. */
    drift_error *err = NULL;
    n = 99;
    CHECK(drift_search_filtered(c, q, 2, &opts, "size < 5 and colour == 'red'", hits, 4, &n, &err) == DRIFT_EINVAL);
    CHECK(err && strstr(drift_error_message(err), "byte 13") && strstr(drift_error_message(err), "colour"));
    CHECK(n == 99);
    drift_error_free(err);
    err = NULL;
    CHECK(drift_search_filtered(c, q, 2, &opts, "size <", hits, 4, &n, &err) == DRIFT_EINVAL);
    CHECK(err && strstr(drift_error_message(err), "syntax error at byte 6"));
    drift_error_free(err);
    err = NULL;
    const char *bad[1] = {"lang=en\tsize=-3"};
    CHECK(drift_add_with_attributes(c, NULL, NULL, NULL, v, bad, 1, 2, NULL, &err) == DRIFT_EINVAL);
    CHECK(err && strstr(drift_error_message(err), "posting 0") && strstr(drift_error_message(err), "size"));
    drift_error_free(err);
    drift_collection_stats stats;
    CHECK(drift_collection_stats_get(c, &stats, NULL) == DRIFT_OK && stats.memtable_rows == 4);

    /* The schema grows; a type never changes. */
    CHECK(drift_collection_add_attribute(c, "year:u64", NULL) == DRIFT_OK);
    EXPECT_STATUS(drift_collection_add_attribute(c, "year:string", NULL), DRIFT_EINVAL);
    CHECK(drift_search_filtered(c, q, 2, &opts, "year is null and size >= 20", hits, 4, &n, NULL) == DRIFT_OK && n == 2);
    /* New values for a document's postings, vectors kept. */
    uint64_t updated = 0;
    CHECK(drift_update_attributes(c, ids + 16, "lang=de\tsize=21", &updated, NULL) == DRIFT_OK && updated == 1);
    CHECK(drift_search_filtered(c, q, 2, &opts, "lang == 'de' and size == 21", hits, 4, &n, NULL) == DRIFT_OK);
    CHECK(n == 1 && id_value(hits[0].document_id) == 2 && fabsf(hits[0].distance - 0.01f) < 1e-6f);
    EXPECT_STATUS(drift_update_attributes(c, ids + 16, "colour=red", &updated, NULL), DRIFT_EINVAL);
    CHECK(drift_update_attributes(c, ids + 16, "lang=fr\tsize=20", NULL, NULL) == DRIFT_OK);
    /* Removing by filter: the documents that match, atomically; a bad filter removes nothing. */
    uint64_t removed = 99;
    EXPECT_STATUS(drift_remove_where(c, "lang is nul", &removed, NULL), DRIFT_EINVAL);
    CHECK(removed == 99);
    CHECK(drift_remove_where(c, "lang is null", &removed, NULL) == DRIFT_OK && removed == 1);
    CHECK(drift_remove_where(c, "lang == 'de'", NULL, NULL) == DRIFT_OK);
    drift_collection_free(c);
    CHECK(drift_close(db, NULL) == DRIFT_OK);

    CHECK(drift_open(dir, NULL, &db, NULL) == DRIFT_OK);
    CHECK(drift_collection_open(db, "docs", &c, NULL) == DRIFT_OK);
    CHECK(drift_search_filtered(c, q, 2, &opts, "lang in ('fr') and size == 20", hits, 4, &n, NULL) == DRIFT_OK);
    CHECK(n == 1 && id_value(hits[0].document_id) == 2);
    CHECK(drift_search_filtered(c, q, 2, &opts, NULL, hits, 4, &n, NULL) == DRIFT_OK && n == 3);
    drift_collection_free(c);
    CHECK(drift_close(db, NULL) == DRIFT_OK);
    free(dir);
}

int main(void) {
    test_version();
    test_filtering();
    test_lifecycle();
    test_error_paths();
    test_locked_by_another_process();
    test_concurrent_searches_while_writing();
    test_pread_vector_reads();
    test_checkpoint();
    if (failures) {
        fprintf(stderr, "C API tests: %d failed\n", failures);
        return 1;
    }
    printf("C API tests: all passed\n");
    return 0;
}
