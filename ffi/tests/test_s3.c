/*
 * The S3 tier through the C API, against the test server that scripts/s3-server.sh
 * starts (DRIFT_S3_ENDPOINT / DRIFT_S3_BUCKET): promote, tier stats, two threads
 * syncing at once, restore into an empty directory with identical answers, the old
 * writer fenced (DRIFT_ENOTOWNER from its next sync, ownership_lost in its stats, and
 * refused on reopen), and a store that never answers failing within the timeout.
 */
#define _GNU_SOURCE
#include "drift.h"
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *sync_thread(void *db) {
    return (void *)(intptr_t)drift_sync_object_store((drift_db *)db, NULL);
}

/* A loopback socket that completes connections (in its backlog) and never answers. */
static int silent_listener(char *url, size_t len) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        return -1;
    }
    snprintf(url, len, "http://127.0.0.1:%d", ntohs(a.sin_port));
    return fd;
}

int main(void) {
    const char *endpoint = getenv("DRIFT_S3_ENDPOINT"), *bucket = getenv("DRIFT_S3_BUCKET");
    if (!endpoint || !bucket) {
        printf("skipped: no S3 endpoint (scripts/test-all.sh starts one)\n");
        return 0;
    }
    char prefix[64];
    snprintf(prefix, sizeof prefix, "c-api-%ld-%d", (long)time(NULL), (int)getpid());
    drift_object_store_options tier;
    drift_object_store_options_default(&tier);
    CHECK(tier.local_disk_budget == DRIFT_KEEP_ALL_LOCAL && tier.request_timeout_ms == 10000 && tier.connect_timeout_ms == 3000);
    tier.bucket = bucket;
    tier.prefix = prefix;
    tier.endpoint = endpoint;
    tier.allow_http = 1;
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
    /* Two threads syncing at once: rounds are serialized, both succeed. */
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, sync_thread, db);
    for (int i = 0; i < 2; i++) {
        void *status = NULL;
        pthread_join(threads[i], &status);
        CHECK((int32_t)(intptr_t)status == DRIFT_OK);
    }
    drift_tier_stats ts;
    CHECK(drift_tier_stats_get(db, &ts, NULL) == DRIFT_OK);
    CHECK(ts.generation >= 1 && ts.requests > 0 && ts.bytes_uploaded > 0 && ts.pending_files == 0 && ts.lag_ms == 0);
    CHECK(ts.ownership_lost == 0 && ts.has_error == 0 && ts.last_error[0] == 0);
    drift_db *local = NULL;
    char *local_dir = temp_dir();
    CHECK(drift_open(local_dir, &options, &local, NULL) == DRIFT_OK);
    CHECK(drift_tier_stats_get(local, &ts, NULL) == DRIFT_EINVAL);
    CHECK(drift_close(local, NULL) == DRIFT_OK);

    /* Restore while the old writer is still open: the restore takes the prefix over. */
    char *restored_dir = temp_dir();
    drift_object_store_options restore = tier;
    restore.mode = DRIFT_TIER_RESTORE;
    drift_db *restored = NULL;
    CHECK(drift_open_with_object_store(restored_dir, &options, &restore, &restored, NULL) == DRIFT_OK);
    drift_collection *rc = NULL;
    CHECK(drift_collection_open(restored, "c", &rc, NULL) == DRIFT_OK);
    float q[4] = {0.1f, 0.9f, 0, 0};
    drift_search_options so = {.k = 1};
    drift_hit hit;
    size_t count = 0;
    CHECK(drift_search(rc, q, 4, &so, &hit, 1, &count, NULL) == DRIFT_OK && count == 1 && hit.document_id[0] == 2);
    drift_collection_free(rc);

    /* The old writer, with nothing new to promote, is told at its next sync. */
    err = NULL;
    CHECK(drift_sync_object_store(db, &err) == DRIFT_ENOTOWNER);
    CHECK(err != NULL && strstr(drift_error_message(err), "took the prefix over") != NULL);
    drift_error_free(err);
    CHECK(drift_tier_stats_get(db, &ts, NULL) == DRIFT_OK);
    CHECK(ts.ownership_lost == 1 && strstr(ts.last_error, "took the prefix over") != NULL);
    drift_collection_free(c);
    CHECK(drift_close(db, NULL) == DRIFT_OK);
    CHECK(drift_sync_object_store(restored, NULL) == DRIFT_OK);
    CHECK(drift_close(restored, NULL) == DRIFT_OK);

    drift_db *old = NULL;
    err = NULL;
    CHECK(drift_open_with_object_store(writer_dir, &options, &tier, &old, &err) == DRIFT_ENOTOWNER && old == NULL);
    CHECK(err != NULL && strstr(drift_error_message(err), "restore") != NULL);
    drift_error_free(err);
    CHECK(drift_open_with_object_store(writer_dir, &options, NULL, &old, NULL) == DRIFT_EINVAL);

    /* A store that never answers fails the open within request_timeout_ms. */
    char silent[64];
    int fd = silent_listener(silent, sizeof silent);
    CHECK(fd >= 0);
    drift_object_store_options hang = tier;
    hang.endpoint = silent;
    hang.request_timeout_ms = 700;
    char *hang_dir = temp_dir();
    double started = now_seconds();
    err = NULL;
    CHECK(drift_open_with_object_store(hang_dir, &options, &hang, &old, &err) == DRIFT_EREMOTE);
    double took = now_seconds() - started;
    CHECK(took < 5.0);
    CHECK(err != NULL && strstr(drift_error_message(err), silent) != NULL);
    drift_error_free(err);
    close(fd);

    free(writer_dir);
    free(restored_dir);
    free(local_dir);
    free(hang_dir);
    if (failures) {
        fprintf(stderr, "C S3 tests: %d failed\n", failures);
        return 1;
    }
    printf("C S3 tests: all passed (a silent store failed the open in %.1f s)\n", took);
    return 0;
}
