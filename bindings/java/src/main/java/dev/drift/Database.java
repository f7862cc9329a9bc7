package dev.drift;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An open drift database: a directory holding named collections. Thread-safe. Close it to
 * release the directory lock; collections of a closed database throw {@link DriftException}
 * with code {@code CLOSED}.
 *
 * <pre>{@code
 * try (Database db = Database.open(Path.of("my-db"))) {
 *     Collection docs = db.createCollection("docs", 384, Metric.COSINE);
 *     docs.add(List.of(Posting.of(DocumentId.of(7), embedding)));
 *     List<Hit> hits = docs.search(query, 10);
 * }
 * }</pre>
 */
public final class Database implements AutoCloseable {
    /** Distance metrics. */
    public enum Metric {
        L2(1), INNER_PRODUCT(2), COSINE(3);

        final int code;

        Metric(int code) {
            this.code = code;
        }
    }

    private final MemorySegment handle;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Database(MemorySegment handle) {
        this.handle = handle;
    }

    /** The version of the loaded libdrift. */
    public static String version() {
        try {
            MemorySegment s = (MemorySegment) Native.VERSION.invokeExact();
            return s.reinterpret(64).getString(0);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** Opens (creating if missing) the database in {@code path} with default options. */
    public static Database open(Path path) {
        return open(path, 0);
    }

    /**
     * Opens the database with a memtable flush threshold ({@code memtableFlushBytes}, 0 for
     * the default) and otherwise default options (fsync before acknowledging writes).
     */
    public static Database open(Path path, long memtableFlushBytes) {
        return open(path, memtableFlushBytes, false);
    }

    /**
     * As {@link #open(Path, long)}; with {@code preadVectors} searches copy the vectors they
     * re-rank out of the page cache ({@code pread}) rather than borrowing them from the
     * shard maps, which keeps them out of the process's resident set
     * ({@code DRIFT_VECTOR_READS_PREAD}).
     */
    public static Database open(Path path, long memtableFlushBytes, boolean preadVectors) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment options = defaultOptions(arena);
            if (memtableFlushBytes > 0) {
                options.set(JAVA_LONG, optionOffset("memtable_flush_bytes"), memtableFlushBytes);
            }
            if (preadVectors) {
                options.set(JAVA_INT, optionOffset("vector_reads"), 1);
            }
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment err = arena.allocate(ADDRESS);
            int status = (int) Native.OPEN.invokeExact(arena.allocateFrom(path.toString()), options, out, err);
            Native.check(status, err);
            return new Database(out.get(ADDRESS, 0));
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Opens the database in {@code path} with the S3 tier: as the prefix's writer,
     * restoring it into an empty directory (taking it over), or as a read-only replica.
     * Throws with code {@code NOT_OWNER} if another writer owns the prefix, {@code REMOTE}
     * if the store fails or does not answer within the request timeout.
     */
    public static Database openWithObjectStore(Path path, ObjectStore store) {
        return openWithObjectStore(path, store, true);
    }

    /**
     * As {@link #openWithObjectStore(Path, ObjectStore)}; {@code backgroundThreads} false
     * leaves flushes and promotion rounds to explicit calls ({@link #flush},
     * {@link #syncObjectStore}).
     */
    public static Database openWithObjectStore(Path path, ObjectStore store, boolean backgroundThreads) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment options = defaultOptions(arena);
            if (!backgroundThreads) {
                options.set(JAVA_INT, optionOffset("background_threads"), 0);
            }
            MemorySegment tier = arena.allocate(Native.OBJECT_STORE_OPTIONS);
            Native.OBJECT_STORE_OPTIONS_DEFAULT.invokeExact(tier);
            setAddress(tier, "bucket", arena.allocateFrom(store.bucket()));
            setAddress(tier, "prefix", arena.allocateFrom(store.prefix()));
            if (store.endpoint() != null) {
                setAddress(tier, "endpoint", arena.allocateFrom(store.endpoint()));
            }
            if (store.region() != null) {
                setAddress(tier, "region", arena.allocateFrom(store.region()));
            }
            tier.set(JAVA_INT, offset("mode"), store.mode().code);
            tier.set(JAVA_INT, offset("allow_http"), store.allowHttp() ? 1 : 0);
            if (store.localDiskBudget() != null) {
                tier.set(JAVA_LONG, offset("local_disk_budget"), store.localDiskBudget());
            }
            setMillis(tier, "interval_ms", store.interval());
            setMillis(tier, "connect_timeout_ms", store.connectTimeout());
            setMillis(tier, "request_timeout_ms", store.requestTimeout());
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment err = arena.allocate(ADDRESS);
            int status = (int) Native.OPEN_WITH_OBJECT_STORE.invokeExact(
                    arena.allocateFrom(path.toString()), options, tier, out, err);
            Native.check(status, err);
            return new Database(out.get(ADDRESS, 0));
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** {@code drift_options} filled by {@code drift_options_default}. */
    private static MemorySegment defaultOptions(Arena arena) throws Throwable {
        MemorySegment options = arena.allocate(Native.OPTIONS);
        Native.OPTIONS_DEFAULT.invokeExact(options);
        return options;
    }

    private static long optionOffset(String field) {
        return Native.OPTIONS.byteOffset(PathElement.groupElement(field));
    }

    private static long offset(String field) {
        return Native.OBJECT_STORE_OPTIONS.byteOffset(PathElement.groupElement(field));
    }

    private static void setAddress(MemorySegment tier, String field, MemorySegment value) {
        tier.set(ADDRESS, offset(field), value);
    }

    private static void setMillis(MemorySegment tier, String field, java.time.Duration d) {
        if (d != null) {
            tier.set(JAVA_LONG, offset(field), Math.max(1, d.toMillis()));
        }
    }

    /**
     * Runs one promotion round now (writer) or loads the newest generation (replica).
     * Rounds never overlap: a call during a background round waits for it. Throws with
     * code {@code NOT_OWNER} once another writer took the prefix over.
     */
    public void syncObjectStore() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.SYNC_OBJECT_STORE.invokeExact(handle, err), err);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** The S3 tier's state; throws with code {@code INVALID_ARGUMENT} without an object store. */
    public TierStats tierStats() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(Native.TIER_STATS);
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.TIER_STATS_GET.invokeExact(handle, s, err), err);
            java.util.function.ToLongFunction<String> u64 =
                    f -> s.get(JAVA_LONG, Native.TIER_STATS.byteOffset(PathElement.groupElement(f)));
            java.util.function.ToIntFunction<String> u32 =
                    f -> s.get(JAVA_INT, Native.TIER_STATS.byteOffset(PathElement.groupElement(f)));
            String message = s.getString(Native.TIER_STATS.byteOffset(PathElement.groupElement("last_error")));
            return new TierStats(
                    u64.applyAsLong("generation"), u64.applyAsLong("requests"), u64.applyAsLong("bytes_uploaded"),
                    u64.applyAsLong("bytes_downloaded"), u64.applyAsLong("pending_files"),
                    u64.applyAsLong("pending_bytes"), java.time.Duration.ofMillis(u64.applyAsLong("lag_ms")),
                    u64.applyAsLong("evictions"), u64.applyAsLong("fetches"), u32.applyAsInt("ownership_lost") != 0,
                    message.isEmpty() ? null : message);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** Creates a collection (durable on return). */
    public Collection createCollection(String name, int dimension, Metric metric) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment err = arena.allocate(ADDRESS);
            int status = (int) Native.COLLECTION_CREATE.invokeExact(
                    handle, arena.allocateFrom(name), dimension, metric.code, out, err);
            Native.check(status, err);
            return new Collection(out.get(ADDRESS, 0), dimension);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Creates a collection whose postings carry typed attributes, declared as
     * {@code name:type} entries separated by commas (types u64, i64, f64, bool, string,
     * tags, timestamp), e.g. {@code "lang:string, size:u64, tags:tags"}. Durable on return.
     */
    public Collection createCollection(String name, int dimension, Metric metric, String schema) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment err = arena.allocate(ADDRESS);
            int status = (int) Native.COLLECTION_CREATE_WITH_SCHEMA.invokeExact(
                    handle, arena.allocateFrom(name), dimension, metric.code, arena.allocateFrom(schema), out, err);
            Native.check(status, err);
            return new Collection(out.get(ADDRESS, 0), dimension);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** Opens an existing collection; throws with code {@code NOT_FOUND} if there is none. */
    public Collection collection(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment err = arena.allocate(ADDRESS);
            int status = (int) Native.COLLECTION_OPEN.invokeExact(handle, arena.allocateFrom(name), out, err);
            Native.check(status, err);
            MemorySegment c = out.get(ADDRESS, 0);
            MemorySegment stats = arena.allocate(Native.COLLECTION_STATS_LAYOUT);
            status = (int) Native.COLLECTION_STATS_GET.invokeExact(c, stats, err);
            Native.check(status, err);
            return new Collection(c, (int) stats.get(java.lang.foreign.ValueLayout.JAVA_LONG, 0));
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** Drops a collection and deletes its files. */
    public void dropCollection(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.COLLECTION_DROP.invokeExact(handle, arena.allocateFrom(name), err), err);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** The names of all collections, sorted. */
    public List<String> collections() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.COLLECTION_LIST.invokeExact(handle, out, err), err);
            MemorySegment list = out.get(ADDRESS, 0);
            try {
                long n = (long) Native.STRING_LIST_LEN.invokeExact(list);
                List<String> names = new ArrayList<>();
                for (long i = 0; i < n; i++) {
                    MemorySegment s = (MemorySegment) Native.STRING_LIST_GET.invokeExact(list, i);
                    names.add(s.reinterpret(Long.MAX_VALUE).getString(0));
                }
                return names;
            } finally {
                Native.STRING_LIST_FREE.invokeExact(list);
            }
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** Moves memtables into shard files; returns when that is durable. */
    public void flush() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.FLUSH.invokeExact(handle, err), err);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Writes a consistent, openable copy of the whole database into {@code dir} (which must
     * not exist, or be empty): flushes, then hard-links the sealed shard files and copies
     * only open ones, so it takes time proportional to the number of files. The copy holds
     * every write acknowledged before the call.
     */
    public void checkpoint(Path dir) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.CHECKPOINT.invokeExact(handle, arena.allocateFrom(dir.toString()), err), err);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Runs pending maintenance (flush, index rebalancing, compaction of shards with at
     * least 1/8 of their rows deleted; {@code Collection.compact} removes every deleted
     * row) for about {@code budget}; for hosts that schedule work themselves.
     */
    public void maintain(java.time.Duration budget) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.MAINTAIN.invokeExact(handle, budget.toMillis(), err), err);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** Stops background work, syncs the WAL and releases the lock. Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.CLOSE.invokeExact(handle, err), err);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }
}
