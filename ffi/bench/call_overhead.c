/* Per-call cost of one search through the C API (see examples/call_overhead.rs). */
#define _POSIX_C_SOURCE 199309L
#include "drift.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROWS 1000
#define DIM 16

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    long searches = argc > 2 ? atol(argv[2]) : 20000;
    drift_db *db = NULL;
    drift_collection *c = NULL;
    if (drift_open(argv[1], NULL, &db, NULL) != DRIFT_OK || drift_collection_open(db, "overhead", &c, NULL) != DRIFT_OK) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    static float queries[ROWS][DIM];
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < DIM; j++) queries[i][j] = (float)((i * 31 + j * 17) % 97) / 97.0f;
    drift_search_options opts = {.k = 10};
    drift_hit hits[10];
    size_t count;
    for (int i = 0; i < 200; i++) drift_search(c, queries[i], DIM, &opts, hits, 10, &count, NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long checksum = 0;
    for (long i = 0; i < searches; i++) {
        if (drift_search(c, queries[i % ROWS], DIM, &opts, hits, 10, &count, NULL) != DRIFT_OK) return 1;
        checksum += hits[0].document_id[0];
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double micros = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / (double)searches;
    printf("c %.3f us/search (checksum %llu)\n", micros, checksum);
    drift_collection_free(c);
    return drift_close(db, NULL) == DRIFT_OK ? 0 : 1;
}
