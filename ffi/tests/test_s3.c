/*
 * The S3 tier through the C API, against the test server that scripts/s3-server.sh
 * starts (DRIFT_S3_ENDPOINT / DRIFT_S3_BUCKET): promote, restore into an empty
 * directory with identical answers, and the old writer refused afterwards.
 */
#define _GNU_SOURCE
#include "drift.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    const char *endpoint = getenv("DRIFT_S3_ENDPOINT"), *bucket = getenv("DRIFT_S3_BUCKET");
    if (!endpoint || !bucket) {
        printf("skipped: no S3 endpoint (scripts/test-all.sh starts one)\n");
        return 0;
    }
    char prefix[64];
    snprintf(prefix, sizeof prefix, "c-api-%ld-%d", (long)time(NULL), (int)getpid());
    drift_object_store_options tier = {
        .bucket = bucket, .prefix = prefix, .endpoint = endpoint, .region = NULL,
        .mode = DRIFT_TIER_WRITER, .allow_http = 1, .local_disk_budget = 0, .interval_ms = 0};
    drift_options options;
    drift_options_default(&options);
    options.background_threads = 0;

    char *writer_dir = temp_dir();
    drift_db *db = NULL;
    drift_error *err = NULL;
    if (drift_open_with_object_store(writer_dir, &options, &tier, &db, &err) != DRIFT_OK) {
        fprintf(stderr, "open: %s\n", drift_error_message(err));
        return 1;
    }
    drift_collection *c = NULL;
    CHECK(drift_collection_create(db, "c", 4, DRIFT_METRIC_L2, &c, NULL) == DRIFT_OK);
    float vectors[8] = {1, 0, 0, 0, 0, 1, 0, 0};
    uint8_t ids[32] = {1, [16] = 2};
    CHECK(drift_add(c, ids, NULL, NULL, vectors, 2, 4, NULL, NULL) == DRIFT_OK);
    CHECK(drift_flush(db, NULL) == DRIFT_OK);
    CHECK(drift_sync_object_store(db, NULL) == DRIFT_OK);
    drift_collection_free(c);
    CHECK(drift_close(db, NULL) == DRIFT_OK);

    char *restored_dir = temp_dir();
    tier.mode = DRIFT_TIER_RESTORE;
    db = NULL;
    CHECK(drift_open_with_object_store(restored_dir, &options, &tier, &db, NULL) == DRIFT_OK);
    CHECK(drift_collection_open(db, "c", &c, NULL) == DRIFT_OK);
    float q[4] = {0.1f, 0.9f, 0, 0};
    drift_search_options so = {.k = 1};
    drift_hit hit;
    size_t count = 0;
    CHECK(drift_search(c, q, 4, &so, &hit, 1, &count, NULL) == DRIFT_OK && count == 1 && hit.document_id[0] == 2);
    drift_collection_free(c);
    CHECK(drift_close(db, NULL) == DRIFT_OK);

    tier.mode = DRIFT_TIER_WRITER;
    drift_db *old = NULL;
    err = NULL;
    CHECK(drift_open_with_object_store(writer_dir, &options, &tier, &old, &err) == DRIFT_ENOTOWNER && old == NULL);
    CHECK(err != NULL && strstr(drift_error_message(err), "restore") != NULL);
    drift_error_free(err);
    CHECK(drift_open_with_object_store(writer_dir, &options, NULL, &old, NULL) == DRIFT_EINVAL);
    free(writer_dir);
    free(restored_dir);
    if (failures) {
        fprintf(stderr, "C S3 tests: %d failed\n", failures);
        return 1;
    }
    printf("C S3 tests: all passed\n");
    return 0;
}
