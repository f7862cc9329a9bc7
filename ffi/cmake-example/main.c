/* The C quick start: open, create, add, search, close. */
#include <drift.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "example-db";
    drift_db *db = NULL;
    drift_error *err = NULL;
    if (drift_open(path, NULL, &db, &err) != DRIFT_OK) {
        fprintf(stderr, "open: %s\n", drift_error_message(err));
        drift_error_free(err);
        return 1;
    }
    drift_collection *docs = NULL;
    if (drift_collection_open(db, "docs", &docs, NULL) != DRIFT_OK &&
        drift_collection_create(db, "docs", 3, DRIFT_METRIC_COSINE, &docs, &err) != DRIFT_OK) {
        fprintf(stderr, "create: %s\n", drift_error_message(err));
        drift_error_free(err);
        drift_close(db, NULL);
        return 1;
    }
    float vectors[] = {1, 0, 0, 0, 1, 0};
    uint8_t ids[32] = {1, [16] = 2}; /* document ids 1 and 2, little-endian u128 */
    uint32_t starts[] = {0, 40}, lengths[] = {40, 25};
    if (drift_add(docs, ids, starts, lengths, vectors, 2, 3, NULL, &err) != DRIFT_OK) {
        fprintf(stderr, "add: %s\n", drift_error_message(err));
        drift_error_free(err);
    }
    float query[] = {0.2f, 0.9f, 0};
    drift_search_options options = {.k = 1};
    drift_hit hit;
    size_t count = 0;
    if (drift_search(docs, query, 3, &options, &hit, 1, &count, NULL) == DRIFT_OK && count == 1) {
        printf("closest: document %u, span %u+%u, distance %.3f\n", hit.document_id[0], hit.start, hit.length,
               hit.distance);
    }
    drift_collection_free(docs);
    return drift_close(db, NULL) == DRIFT_OK ? 0 : 1;
}
