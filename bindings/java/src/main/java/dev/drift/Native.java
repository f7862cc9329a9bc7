package dev.drift;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Downcall handles to libdrift's C API (Foreign Function and Memory API). The library is
 * found through the system property {@code drift.library} (a path), else the environment
 * variable {@code DRIFT_LIBRARY}, else in a directory of {@code java.library.path}, else
 * as {@code libdrift.so.0} through the system loader (which finds {@code scripts/install.sh}'s
 * default prefix, /usr/local, once {@code ldconfig} ran).
 */
final class Native {
    private Native() {}

    static final StructLayout HIT = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(16, JAVA_BYTE).withName("document_id"),
            JAVA_INT.withName("start"),
            JAVA_INT.withName("length"),
            JAVA_FLOAT.withName("distance"));
    static final StructLayout SEARCH_OPTIONS = MemoryLayout.structLayout(
            JAVA_INT.withName("k"), JAVA_INT.withName("one_per_document"),
            JAVA_INT.withName("nprobe"), JAVA_INT.withName("rerank_factor"),
            JAVA_INT.withName("probe_patience"));
    static final StructLayout OPTIONS = MemoryLayout.structLayout(
            JAVA_INT.withName("sync_policy"), JAVA_INT.withName("sync_interval_ms"),
            JAVA_LONG.withName("memtable_flush_bytes"), JAVA_LONG.withName("wal_segment_bytes"),
            JAVA_INT.withName("wal_ring_segments"), JAVA_INT.withName("background_threads"),
            JAVA_LONG.withName("shard_max_rows"), JAVA_INT.withName("create_if_missing"),
            JAVA_INT.withName("vector_reads"));
    static final StructLayout OBJECT_STORE_OPTIONS = MemoryLayout.structLayout(
            ADDRESS.withName("bucket"), ADDRESS.withName("prefix"), ADDRESS.withName("endpoint"),
            ADDRESS.withName("region"), JAVA_INT.withName("mode"), JAVA_INT.withName("allow_http"),
            JAVA_LONG.withName("local_disk_budget"), JAVA_LONG.withName("interval_ms"),
            JAVA_LONG.withName("connect_timeout_ms"), JAVA_LONG.withName("request_timeout_ms"));
    /** Bytes of {@code drift_tier_stats.last_error} (DRIFT_TIER_ERROR_LEN). */
    static final int TIER_ERROR_LEN = 512;
    static final StructLayout TIER_STATS = MemoryLayout.structLayout(
            JAVA_LONG.withName("generation"), JAVA_LONG.withName("requests"), JAVA_LONG.withName("bytes_uploaded"),
            JAVA_LONG.withName("bytes_downloaded"), JAVA_LONG.withName("pending_files"),
            JAVA_LONG.withName("pending_bytes"), JAVA_LONG.withName("lag_ms"), JAVA_LONG.withName("evictions"),
            JAVA_LONG.withName("fetches"), JAVA_INT.withName("ownership_lost"), JAVA_INT.withName("has_error"),
            MemoryLayout.sequenceLayout(TIER_ERROR_LEN, JAVA_BYTE).withName("last_error"));
    static final StructLayout COLLECTION_STATS_LAYOUT = MemoryLayout.structLayout(
            JAVA_LONG.withName("dimension"), JAVA_LONG.withName("memtable_rows"), JAVA_LONG.withName("frozen_rows"),
            JAVA_LONG.withName("shard_rows"), JAVA_LONG.withName("shards"), JAVA_LONG.withName("sealed_shards"),
            JAVA_LONG.withName("row_groups"), JAVA_LONG.withName("shard_bytes"), JAVA_LONG.withName("tombstones"));

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIB = lookup();

    private static SymbolLookup lookup() {
        String path = System.getProperty("drift.library");
        if (path == null || path.isEmpty()) {
            path = System.getenv("DRIFT_LIBRARY");
        }
        if (path != null && !path.isEmpty()) {
            if (!Files.exists(Path.of(path))) {
                throw new UnsatisfiedLinkError("libdrift not found at " + path
                        + " (set -Ddrift.library or DRIFT_LIBRARY to the path of libdrift.so)");
            }
            return SymbolLookup.libraryLookup(Path.of(path), Arena.global());
        }
        for (String dir : System.getProperty("java.library.path", "").split(java.io.File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            for (String name : new String[] {"libdrift.so.0", "libdrift.so"}) {
                Path candidate = Path.of(dir, name);
                if (Files.exists(candidate)) {
                    return SymbolLookup.libraryLookup(candidate, Arena.global());
                }
            }
        }
        try {
            return SymbolLookup.libraryLookup("libdrift.so.0", Arena.global());
        } catch (IllegalArgumentException e) {
            throw new UnsatisfiedLinkError("libdrift.so.0 not found: install the SDK (scripts/install.sh), or pass"
                    + " -Djava.library.path=PREFIX/lib or -Ddrift.library=PATH/libdrift.so");
        }
    }

    private static MethodHandle fn(String name, FunctionDescriptor descriptor) {
        MemorySegment symbol = LIB.find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libdrift has no symbol " + name));
        return LINKER.downcallHandle(symbol, descriptor);
    }

    private static FunctionDescriptor status(MemoryLayout... args) {
        return FunctionDescriptor.of(JAVA_INT, args);
    }

    static final MethodHandle VERSION = fn("drift_version", FunctionDescriptor.of(ADDRESS));
    static final MethodHandle ERROR_MESSAGE = fn("drift_error_message", FunctionDescriptor.of(ADDRESS, ADDRESS));
    static final MethodHandle ERROR_FREE = fn("drift_error_free", FunctionDescriptor.ofVoid(ADDRESS));
    static final MethodHandle OPTIONS_DEFAULT = fn("drift_options_default", FunctionDescriptor.ofVoid(ADDRESS));
    static final MethodHandle OPEN = fn("drift_open", status(ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle CLOSE = fn("drift_close", status(ADDRESS, ADDRESS));
    static final MethodHandle OBJECT_STORE_OPTIONS_DEFAULT =
            fn("drift_object_store_options_default", FunctionDescriptor.ofVoid(ADDRESS));
    static final MethodHandle OPEN_WITH_OBJECT_STORE =
            fn("drift_open_with_object_store", status(ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle SYNC_OBJECT_STORE = fn("drift_sync_object_store", status(ADDRESS, ADDRESS));
    static final MethodHandle TIER_STATS_GET = fn("drift_tier_stats_get", status(ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle FLUSH = fn("drift_flush", status(ADDRESS, ADDRESS));
    static final MethodHandle CHECKPOINT = fn("drift_checkpoint", status(ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle MAINTAIN = fn("drift_maintain", status(ADDRESS, JAVA_LONG, ADDRESS));
    static final MethodHandle COLLECTION_CREATE =
            fn("drift_collection_create", status(ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    static final MethodHandle COLLECTION_OPEN = fn("drift_collection_open", status(ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle COLLECTION_DROP = fn("drift_collection_drop", status(ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle COLLECTION_LIST = fn("drift_collection_list", status(ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle STRING_LIST_LEN = fn("drift_string_list_len", FunctionDescriptor.of(JAVA_LONG, ADDRESS));
    static final MethodHandle STRING_LIST_GET =
            fn("drift_string_list_get", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG));
    static final MethodHandle STRING_LIST_FREE = fn("drift_string_list_free", FunctionDescriptor.ofVoid(ADDRESS));
    static final MethodHandle COLLECTION_FREE = fn("drift_collection_free", FunctionDescriptor.ofVoid(ADDRESS));
    static final MethodHandle COLLECTION_STATS_GET = fn("drift_collection_stats_get", status(ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle ADD = fn("drift_add",
            status(ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS));
    static final MethodHandle UPSERT = fn("drift_upsert",
            status(ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));
    static final MethodHandle REMOVE = fn("drift_remove", status(ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
    static final MethodHandle COMPACT = fn("drift_compact", status(ADDRESS, ADDRESS));
    static final MethodHandle SEARCH_FILTERED = fn("drift_search_filtered",
            status(ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));
    static final MethodHandle ADD_WITH_ATTRIBUTES = fn("drift_add_with_attributes",
            status(ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS));
    static final MethodHandle COLLECTION_CREATE_WITH_SCHEMA = fn("drift_collection_create_with_schema",
            status(ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle UPDATE_ATTRIBUTES = fn("drift_update_attributes", status(ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle REMOVE_WHERE = fn("drift_remove_where", status(ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle COLLECTION_ADD_ATTRIBUTE = fn("drift_collection_add_attribute", status(ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle SEARCH_BATCH = fn("drift_search_batch",
            status(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle RESULTS_GET = fn("drift_results_get", status(ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS));
    static final MethodHandle RESULTS_FREE = fn("drift_results_free", FunctionDescriptor.ofVoid(ADDRESS));

    /** Throws a DriftException for a non-zero status, reading and freeing the error. */
    static void check(int status, MemorySegment errSlot) {
        if (status == 0) {
            return;
        }
        String message = "drift error";
        MemorySegment err = errSlot.get(ADDRESS, 0);
        if (!err.equals(MemorySegment.NULL)) {
            try {
                MemorySegment text = (MemorySegment) ERROR_MESSAGE.invokeExact(err);
                message = text.reinterpret(Long.MAX_VALUE).getString(0);
                ERROR_FREE.invokeExact(err);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
        throw new DriftException(status, message);
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
