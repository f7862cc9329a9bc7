// The header from C++: included twice (include guard, extern "C"), RAII ownership,
// and the basic write/search path.
#include "drift.h"
#include "drift.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

struct ErrorDeleter {
    void operator()(drift_error* e) const { drift_error_free(e); }
};
struct CollectionDeleter {
    void operator()(drift_collection* c) const { drift_collection_free(c); }
};
struct DbDeleter {
    void operator()(drift_db* d) const { drift_close(d, nullptr); }
};
using Collection = std::unique_ptr<drift_collection, CollectionDeleter>;
using Db = std::unique_ptr<drift_db, DbDeleter>;

int failures = 0;
void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "C++ check failed: %s\n", what);
        ++failures;
    }
}

}  // namespace

int main() {
    char dir[] = "/tmp/drift-cpp-XXXXXX";
    if (!mkdtemp(dir)) return 2;
    drift_db* raw_db = nullptr;
    check(drift_open(dir, nullptr, &raw_db, nullptr) == DRIFT_OK, "open");
    Db db(raw_db);
    drift_collection* raw = nullptr;
    check(drift_collection_create(db.get(), "cpp", 3, DRIFT_METRIC_COSINE, &raw, nullptr) == DRIFT_OK, "create");
    Collection c(raw);

    std::vector<float> vectors = {1, 0, 0, 0, 1, 0};
    std::vector<uint8_t> ids(32, 0);
    ids[0] = 1;
    ids[16] = 2;
    check(drift_add(c.get(), ids.data(), nullptr, nullptr, vectors.data(), 2, 3, nullptr, nullptr) == DRIFT_OK, "add");

    drift_search_options opts{};
    opts.k = 1;
    drift_hit hit{};
    size_t count = 0;
    std::vector<float> q = {0, 2, 0};
    check(drift_search(c.get(), q.data(), 3, &opts, &hit, 1, &count, nullptr) == DRIFT_OK && count == 1, "search");
    check(hit.document_id[0] == 2 && hit.distance < 1e-6f, "closest is document 2");

    drift_error* raw_err = nullptr;
    check(drift_collection_open(db.get(), "nope", &raw, &raw_err) == DRIFT_ENOTFOUND, "not found");
    std::unique_ptr<drift_error, ErrorDeleter> err(raw_err);
    check(std::string(drift_error_message(err.get())).find("nope") != std::string::npos, "message names the collection");

    if (failures) {
        std::fprintf(stderr, "C++ API tests: %d failed\n", failures);
        return 1;
    }
    std::printf("C++ API tests: all passed\n");
    return 0;
}
