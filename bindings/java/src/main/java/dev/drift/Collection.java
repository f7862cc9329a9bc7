package dev.drift;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A handle to a collection. Thread-safe; close it to free the handle (the collection
 * itself stays). Vectors are copied into native memory for the duration of each call only.
 */
public final class Collection implements AutoCloseable {
    private final MemorySegment handle;
    private final int dimension;
    private final AtomicBoolean closed = new AtomicBoolean();

    Collection(MemorySegment handle, int dimension) {
        this.handle = handle;
        this.dimension = dimension;
    }

    /** The collection's vector dimension. */
    public int dimension() {
        return dimension;
    }

    /**
     * Adds postings atomically and returns their document ids; returns once they are durable
     * and searchable.
     */
    public List<DocumentId> add(List<Posting> postings) {
        return add(postings, null);
    }

    /**
     * Adds postings with attribute values: {@code attributes.get(i)} holds posting i's
     * values by name in text form (numbers as written, {@code true}/{@code false}, tags
     * separated by commas, timestamps as microseconds or RFC 3339), or is null for none.
     * Names must be in the collection's schema and values must fit their types, or
     * nothing is added ({@code INVALID_ARGUMENT}, naming the posting).
     */
    public List<DocumentId> add(List<Posting> postings, List<Map<String, String>> attributes) {
        int n = postings.size();
        if (attributes != null && attributes.size() != n) {
            throw new DriftException(1, attributes.size() + " attribute maps for " + n + " postings");
        }
        int unnamed = 0;
        for (Posting p : postings) {
            if (p.documentId() == null) {
                unnamed++;
            }
        }
        if (unnamed != 0 && unnamed != n) {
            throw new DriftException(1, "a batch must name every document or none");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ids = unnamed == n ? MemorySegment.NULL : arena.allocate(16L * n);
            MemorySegment starts = arena.allocate(JAVA_INT, Math.max(n, 1));
            MemorySegment lengths = arena.allocate(JAVA_INT, Math.max(n, 1));
            MemorySegment vectors = arena.allocate(JAVA_FLOAT, Math.max((long) n * dimension, 1));
            for (int i = 0; i < n; i++) {
                Posting p = postings.get(i);
                if (p.vector().length != dimension) {
                    throw new DriftException(2, "posting " + i + " has " + p.vector().length
                            + " components, the collection's dimension is " + dimension);
                }
                if (unnamed == 0) {
                    MemorySegment.copy(p.documentId().toBytes(), 0, ids, JAVA_BYTE, 16L * i, 16);
                }
                starts.setAtIndex(JAVA_INT, i, p.start());
                lengths.setAtIndex(JAVA_INT, i, p.length());
                MemorySegment.copy(p.vector(), 0, vectors, JAVA_FLOAT, (long) i * dimension * 4, dimension);
            }
            MemorySegment out = arena.allocate(16L * Math.max(n, 1));
            MemorySegment err = arena.allocate(ADDRESS);
            int status;
            if (attributes == null) {
                status = (int) Native.ADD.invokeExact(handle, ids, starts, lengths, vectors, (long) n, (long) dimension, out, err);
            } else {
                MemorySegment texts = arena.allocate(ADDRESS, Math.max(n, 1));
                for (int i = 0; i < n; i++) {
                    Map<String, String> values = attributes.get(i);
                    texts.setAtIndex(ADDRESS, i, values == null || values.isEmpty()
                            ? MemorySegment.NULL : arena.allocateFrom(attributeText(i, values)));
                }
                status = (int) Native.ADD_WITH_ATTRIBUTES.invokeExact(handle, ids, starts, lengths, vectors, texts,
                        (long) n, (long) dimension, out, err);
            }
            Native.check(status, err);
            List<DocumentId> result = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                result.add(DocumentId.ofBytes(out.asSlice(16L * i, 16).toArray(JAVA_BYTE)));
            }
            return result;
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** One posting's values as the C API's text form: {@code name=value} entries separated by tabs. */
    private static String attributeText(int posting, Map<String, String> values) {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, String> e : new TreeMap<>(values).entrySet()) {
            String name = e.getKey();
            String value = e.getValue() == null ? "" : e.getValue();
            if ((name + value).indexOf('\t') >= 0 || (name + value).indexOf('\0') >= 0 || name.indexOf('=') >= 0) {
                throw new DriftException(1, "posting " + posting + ": attribute " + name
                        + ": names and values cannot hold tabs or NUL, names no '='");
            }
            if (b.length() > 0) {
                b.append('\t');
            }
            b.append(name).append('=').append(value);
        }
        return b.toString();
    }

    /**
     * Replaces the attribute values of every posting of {@code id} with {@code values}
     * (text form, as in {@link #add(List, List)}; attributes not named become null),
     * keeping vectors and spans, atomically and durably. Returns the postings updated
     * (0: no such document).
     */
    public long updateAttributes(DocumentId id, Map<String, String> values) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(JAVA_LONG);
            MemorySegment err = arena.allocate(ADDRESS);
            MemorySegment idBytes = arena.allocateFrom(JAVA_BYTE, id.toBytes());
            int status = (int) Native.UPDATE_ATTRIBUTES.invokeExact(handle, idBytes, arena.allocateFrom(attributeText(0, values)), count, err);
            Native.check(status, err);
            return count.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Removes every document with a posting whose attributes match {@code filter},
     * atomically and durably, and returns how many. A bad filter throws
     * {@code INVALID_ARGUMENT} naming the byte, before anything is removed.
     */
    public long removeWhere(String filter) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(JAVA_LONG);
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.REMOVE_WHERE.invokeExact(handle, arena.allocateFrom(filter), count, err), err);
            return count.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Adds an attribute ({@code "name:type"}) to the schema; postings written before read
     * it as null. The same declaration again does nothing; another type throws
     * {@code INVALID_ARGUMENT}. Durable on return.
     */
    public void addAttribute(String attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.COLLECTION_ADD_ATTRIBUTE.invokeExact(handle, arena.allocateFrom(attribute), err), err);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * The {@code k} postings nearest to {@code query} whose attributes match {@code filter}
     * (drift's filter language, e.g. {@code "lang == 'en' and size < 500"}; null or empty
     * for none). A bad filter throws {@code INVALID_ARGUMENT} naming the byte offset.
     */
    public List<Hit> search(float[] query, int k, String filter) {
        return search(query, k, false, 0, 0, 0, filter);
    }

    /** Replaces every posting of {@code id} with the given vectors (spans unused), atomically. */
    public void upsert(DocumentId id, List<float[]> vectors) {
        int n = vectors.size();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flat = arena.allocate(JAVA_FLOAT, Math.max((long) n * dimension, 1));
            for (int i = 0; i < n; i++) {
                if (vectors.get(i).length != dimension) {
                    throw new DriftException(2, "vector " + i + " has " + vectors.get(i).length
                            + " components, the collection's dimension is " + dimension);
                }
                MemorySegment.copy(vectors.get(i), 0, flat, JAVA_FLOAT, (long) i * dimension * 4, dimension);
            }
            MemorySegment err = arena.allocate(ADDRESS);
            MemorySegment idBytes = arena.allocateFrom(JAVA_BYTE, id.toBytes());
            int status = (int) Native.UPSERT.invokeExact(handle, idBytes, MemorySegment.NULL, MemorySegment.NULL,
                    flat, (long) n, (long) dimension, err);
            Native.check(status, err);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** Removes every posting of the given documents. */
    public void remove(List<DocumentId> ids) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(16L * Math.max(ids.size(), 1));
            for (int i = 0; i < ids.size(); i++) {
                MemorySegment.copy(ids.get(i).toBytes(), 0, bytes, JAVA_BYTE, 16L * i, 16);
            }
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.REMOVE.invokeExact(handle, bytes, (long) ids.size(), err), err);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** The {@code k} postings nearest to {@code query}, closest first. */
    public List<Hit> search(float[] query, int k) {
        return search(query, k, false);
    }

    /** As {@link #search(float[], int)}, optionally returning one hit per document. */
    public List<Hit> search(float[] query, int k, boolean onePerDocument) {
        return search(query, k, onePerDocument, 0, 0);
    }

    /**
     * As {@link #search(float[], int, boolean)}, probing {@code nprobe} centroids of an
     * indexed collection and re-ranking {@code rerankFactor × k} candidates exactly
     * (0 = the defaults: ⌈5·√centroids⌉ centroids, factor 8).
     */
    public List<Hit> search(float[] query, int k, boolean onePerDocument, int nprobe, int rerankFactor) {
        return search(query, k, onePerDocument, nprobe, rerankFactor, 0);
    }

    /**
     * As {@link #search(float[], int, boolean, int, int)}, stopping the probe once
     * {@code probePatience} lists in a row (nearest centroid first) added nothing to the
     * k best estimates (0 = scan all {@code nprobe} lists).
     */
    public List<Hit> search(float[] query, int k, boolean onePerDocument, int nprobe, int rerankFactor, int probePatience) {
        return search(query, k, onePerDocument, nprobe, rerankFactor, probePatience, null);
    }

    /** The one search call: {@code drift_search_filtered}, with a NULL filter for none. */
    private List<Hit> search(float[] query, int k, boolean onePerDocument, int nprobe, int rerankFactor, int probePatience, String filter) {
        if (nprobe < 0 || rerankFactor < 0 || probePatience < 0) {
            throw new DriftException(1, "nprobe, rerankFactor and probePatience must not be negative");
        }
        if (k <= 0) {
            throw new DriftException(1, "k must be positive, got " + k);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment q = arena.allocateFrom(JAVA_FLOAT, query);
            MemorySegment options = options(arena, k, onePerDocument, nprobe, rerankFactor, probePatience);
            MemorySegment f = filter == null ? MemorySegment.NULL : arena.allocateFrom(filter);
            MemorySegment hits = arena.allocate(Native.HIT, k);
            MemorySegment count = arena.allocate(JAVA_LONG);
            MemorySegment err = arena.allocate(ADDRESS);
            int status = (int) Native.SEARCH_FILTERED.invokeExact(handle, q, (long) query.length, options, f, hits, (long) k, count, err);
            Native.check(status, err);
            return hits(hits, count.get(JAVA_LONG, 0));
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** Searches many queries at once. */
    public List<List<Hit>> searchBatch(List<float[]> queries, int k) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flat = arena.allocate(JAVA_FLOAT, Math.max((long) queries.size() * dimension, 1));
            for (int i = 0; i < queries.size(); i++) {
                if (queries.get(i).length != dimension) {
                    throw new DriftException(2, "query " + i + " has the wrong dimension");
                }
                MemorySegment.copy(queries.get(i), 0, flat, JAVA_FLOAT, (long) i * dimension * 4, dimension);
            }
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment err = arena.allocate(ADDRESS);
            int status = (int) Native.SEARCH_BATCH.invokeExact(handle, flat, (long) queries.size(), (long) dimension,
                    options(arena, k, false, 0, 0, 0), out, err);
            Native.check(status, err);
            MemorySegment results = out.get(ADDRESS, 0);
            try {
                List<List<Hit>> all = new ArrayList<>();
                MemorySegment hitsOut = arena.allocate(ADDRESS);
                MemorySegment countOut = arena.allocate(JAVA_LONG);
                for (int i = 0; i < queries.size(); i++) {
                    status = (int) Native.RESULTS_GET.invokeExact(results, (long) i, hitsOut, countOut, err);
                    Native.check(status, err);
                    long count = countOut.get(JAVA_LONG, 0);
                    all.add(hits(hitsOut.get(ADDRESS, 0).reinterpret(count * Native.HIT.byteSize()), count));
                }
                return all;
            } finally {
                Native.RESULTS_FREE.invokeExact(results);
            }
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** Rewrites shard files holding deleted rows without them. */
    public void compact() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.COMPACT.invokeExact(handle, err), err);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** Rows held in shard files (deleted rows included until compaction). */
    public long shardRows() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stats = arena.allocate(Native.COLLECTION_STATS_LAYOUT);
            MemorySegment err = arena.allocate(ADDRESS);
            Native.check((int) Native.COLLECTION_STATS_GET.invokeExact(handle, stats, err), err);
            return stats.get(JAVA_LONG, 24);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    private static MemorySegment options(Arena arena, int k, boolean onePerDocument, int nprobe, int rerankFactor, int probePatience) {
        MemorySegment o = arena.allocate(Native.SEARCH_OPTIONS);
        o.set(JAVA_INT, 0, k);
        o.set(JAVA_INT, 4, onePerDocument ? 1 : 0);
        o.set(JAVA_INT, 8, nprobe);
        o.set(JAVA_INT, 12, rerankFactor);
        o.set(JAVA_INT, 16, probePatience);
        return o;
    }

    private static List<Hit> hits(MemorySegment hits, long count) {
        List<Hit> out = new ArrayList<>((int) count);
        long size = Native.HIT.byteSize();
        for (long i = 0; i < count; i++) {
            MemorySegment h = hits.asSlice(i * size, size);
            out.add(new Hit(DocumentId.ofBytes(h.asSlice(0, 16).toArray(JAVA_BYTE)),
                    h.get(JAVA_INT, 16), h.get(JAVA_INT, 20), h.get(JAVA_FLOAT, 24)));
        }
        return out;
    }

    /** Frees the handle. Idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                Native.COLLECTION_FREE.invokeExact(handle);
            } catch (Throwable t) {
                throw Native.rethrow(t);
            }
        }
    }
}
