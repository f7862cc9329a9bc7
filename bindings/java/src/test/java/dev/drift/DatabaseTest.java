package dev.drift;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatabaseTest {
    @TempDir
    Path dir;

    static float[] vec(int seed, int i, int dim) {
        float[] v = new float[dim];
        for (int j = 0; j < dim; j++) {
            v[j] = ((seed * 131 + i * 31 + j * 7) % 101) / 101.0f + seed;
        }
        return v;
    }

    @Test
    void lifecyclePersistsAcrossReopen() {
        Path path = dir.resolve("db");
        try (Database db = Database.open(path)) {
            assertEquals("0.1.0", Database.version());
            Collection c = db.createCollection("docs", 4, Database.Metric.L2);
            List<DocumentId> ids = c.add(List.of(
                    new Posting(DocumentId.of(7), 0, 10, new float[] {1, 0, 0, 0}),
                    new Posting(DocumentId.of(7), 10, 5, new float[] {0, 1, 0, 0}),
                    Posting.of(DocumentId.of(9), new float[] {0, 0, 1, 0})));
            assertEquals(9, ids.get(2).low());
            List<DocumentId> generated = c.add(List.of(new Posting(null, 0, 0, new float[] {0, 0, 0, 1})));
            assertFalse(generated.get(0).equals(DocumentId.of(0)));

            List<Hit> hits = c.search(new float[] {0.9f, 0.1f, 0, 0}, 2);
            assertEquals(7, hits.get(0).documentId().low());
            assertEquals(10, hits.get(0).length());
            List<Hit> one = c.search(new float[] {0.9f, 0.1f, 0, 0}, 2, true);
            List<Hit> probed = c.search(new float[] {0.9f, 0.1f, 0, 0}, 1, false, 4, 2);
            assertEquals(hits.get(0).documentId(), probed.get(0).documentId());
            assertThrows(DriftException.class, () -> c.search(new float[] {1, 0, 0, 0}, 1, false, 0, 5000));
            List<Hit> patient = c.search(new float[] {0.9f, 0.1f, 0, 0}, 1, false, 4, 2, 2);
            assertEquals(probed.get(0).documentId(), patient.get(0).documentId());
            assertThrows(DriftException.class, () -> c.search(new float[] {1, 0, 0, 0}, 1, false, 4, 2, -1));
            assertTrue(one.get(1).documentId().low() != 7);
            List<List<Hit>> batch = c.searchBatch(List.of(new float[] {1, 0, 0, 0}, new float[] {0, 0, 1, 0}), 1);
            assertEquals(9, batch.get(1).get(0).documentId().low());

            c.upsert(DocumentId.of(7), List.of(new float[] {0, 1, 1, 0}));
            c.remove(List.of(DocumentId.of(9)));
            db.flush();
            c.compact();
            db.maintain(java.time.Duration.ofMillis(50));
            assertTrue(c.shardRows() > 0);
            c.close();
            c.close();
        }
        try (Database db = Database.open(path)) {
            assertEquals(List.of("docs"), db.collections());
            try (Collection c = db.collection("docs")) {
                assertEquals(4, c.dimension());
                assertEquals(2, c.search(new float[] {0, 0, 0, 0}, 10).size());
            }
        }
    }

    /** An indexed collection answers alike with mapped and with pread re-rank reads. */
    @Test
    void preadVectorReadsAnswerAsMappedReads() {
        Path path = dir.resolve("wide");
        int rows = 4096, dim = 160;
        List<List<Hit>> mapped = new ArrayList<>();
        try (Database db = Database.open(path)) {
            Collection c = db.createCollection("wide", dim, Database.Metric.L2);
            for (int at = 0; at < rows; at += 512) {
                List<Posting> batch = new ArrayList<>();
                for (int i = at; i < at + 512; i++) {
                    batch.add(new Posting(null, 0, 0, vec(i % 16, i, dim)));
                }
                c.add(batch);
            }
            db.flush();
            for (int q = 0; q < 20; q++) {
                mapped.add(c.search(vec(q % 16, q * 97, dim), 10, false, 6, 0));
            }
            c.close();
        }
        try (Database db = Database.open(path, 0, true); Collection c = db.collection("wide")) {
            for (int q = 0; q < 20; q++) {
                List<Hit> hits = c.search(vec(q % 16, q * 97, dim), 10, false, 6, 0);
                assertEquals(10, hits.size());
                assertEquals(mapped.get(q), hits, "query " + q);
            }
        }
    }

    @Test
    void errorsCarryTheirCode() {
        Database db = Database.open(dir);
        Collection c = db.createCollection("c", 3, Database.Metric.COSINE);
        DriftException e = assertThrows(DriftException.class,
                () -> c.add(List.of(Posting.of(DocumentId.of(1), new float[] {1, 2}))));
        assertEquals(DriftException.Code.DIMENSION_MISMATCH, e.code());
        e = assertThrows(DriftException.class,
                () -> c.add(List.of(Posting.of(DocumentId.of(1), new float[] {1, Float.NaN, 0}))));
        assertEquals(DriftException.Code.NON_FINITE, e.code());
        assertTrue(e.getMessage().contains("NaN"));
        assertEquals(DriftException.Code.NOT_FOUND, assertThrows(DriftException.class, () -> db.collection("missing")).code());
        assertEquals(DriftException.Code.ALREADY_EXISTS,
                assertThrows(DriftException.class, () -> db.createCollection("c", 3, Database.Metric.L2)).code());
        assertEquals(DriftException.Code.INVALID_ARGUMENT,
                assertThrows(DriftException.class, () -> db.createCollection("bad name", 3, Database.Metric.L2)).code());
        assertEquals(DriftException.Code.LOCKED, assertThrows(DriftException.class, () -> Database.open(dir)).code());
        db.close();
        db.close();
        assertEquals(DriftException.Code.CLOSED,
                assertThrows(DriftException.class, () -> c.search(new float[] {1, 0, 0}, 1)).code());
        c.close();
    }

    @Test
    void concurrentThreadsSeeAcknowledgedWrites() throws Exception {
        final int dim = 8, batches = 150, rows = 4;
        try (Database db = Database.open(dir, 32 << 10); Collection c = db.createCollection("c", dim, Database.Metric.L2)) {
            AtomicInteger acked = new AtomicInteger();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread writer = new Thread(() -> {
                try {
                    for (int b = 0; b < batches; b++) {
                        List<Posting> ps = new ArrayList<>();
                        for (int r = 0; r < rows; r++) {
                            ps.add(Posting.of(DocumentId.of(b * rows + r + 1), vec(b, r, dim)));
                        }
                        c.add(ps);
                        acked.set(b + 1);
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            List<Thread> readers = new ArrayList<>();
            for (int g = 0; g < 3; g++) {
                final int seed = g;
                readers.add(new Thread(() -> {
                    try {
                        for (int i = 0; acked.get() < batches && failure.get() == null; i++) {
                            int n = acked.get();
                            if (n == 0) {
                                continue;
                            }
                            int b = (i * 7 + seed) % n, r = i % rows;
                            List<Hit> hits = c.search(vec(b, r, dim), 1);
                            if (hits.get(0).documentId().low() != b * rows + r + 1 || hits.get(0).distance() != 0f) {
                                throw new AssertionError("acknowledged posting " + b + "/" + r + " not found: " + hits);
                            }
                        }
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    }
                }));
            }
            writer.start();
            readers.forEach(Thread::start);
            writer.join();
            for (Thread t : readers) {
                t.join();
            }
            if (failure.get() != null) {
                throw new AssertionError(failure.get());
            }
        }
    }

    @Test
    void checkpointOpensAsItsOwnDatabase() {
        Path copy = dir.resolve("copy");
        try (Database db = Database.open(dir.resolve("db"))) {
            Collection c = db.createCollection("docs", 4, Database.Metric.L2);
            c.add(List.of(Posting.of(DocumentId.of(1), new float[] {1, 0, 0, 0})));
            db.checkpoint(copy);
            c.add(List.of(Posting.of(DocumentId.of(2), new float[] {0, 1, 0, 0})));
            assertEquals(DriftException.Code.INVALID_ARGUMENT,
                    assertThrows(DriftException.class, () -> db.checkpoint(copy)).code());
        }
        try (Database restored = Database.open(copy)) {
            List<Hit> hits = restored.collection("docs").search(new float[] {1, 0, 0, 0}, 5);
            assertEquals(1, hits.size());
            assertEquals(1, hits.get(0).documentId().low());
        }
    }

    @Test
    void filteredSearchOverTypedAttributes() {
        try (Database db = Database.open(dir.resolve("db"))) {
            Collection c = db.createCollection("docs", 2, Database.Metric.L2, "lang:string, size:u64, tags:tags");
            c.add(List.of(
                    Posting.of(DocumentId.of(1), new float[] {0, 1}),
                    Posting.of(DocumentId.of(2), new float[] {0, 0.9f}),
                    Posting.of(DocumentId.of(3), new float[] {1, 0})),
                    java.util.Arrays.asList(Map.of("lang", "en", "size", "10", "tags", "gui,x11"), Map.of("lang", "fr", "size", "20"), null));
            List<Hit> hits = c.search(new float[] {0, 1}, 5, "lang == 'fr' or tags contains 'x11'");
            assertEquals(2, hits.size());
            assertEquals(1, hits.get(0).documentId().low());
            assertEquals(2, hits.get(1).documentId().low());
            assertEquals(3, c.search(new float[] {0, 1}, 5, "lang is null").get(0).documentId().low());
            DriftException bad = assertThrows(DriftException.class, () -> c.search(new float[] {0, 1}, 5, "size < 5 and colour == 'red'"));
            assertTrue(bad.getMessage().contains("byte 13"), bad.getMessage());
            DriftException value = assertThrows(DriftException.class,
                    () -> c.add(List.of(Posting.of(DocumentId.of(4), new float[] {0, 0})), List.of(Map.of("size", "-1"))));
            assertTrue(value.getMessage().contains("posting 0"), value.getMessage());
            c.addAttribute("year:u64");
            assertThrows(DriftException.class, () -> c.addAttribute("year:string"));
            assertEquals(1, c.search(new float[] {0, 1}, 5, "year is null and size >= 20").size());
            assertEquals(1, c.updateAttributes(DocumentId.of(1), Map.of("lang", "de")));
            assertEquals(1, c.search(new float[] {0, 1}, 5, "lang == 'de' and size is null").size());
            assertEquals(1, c.removeWhere("lang == 'fr'"));
            assertThrows(DriftException.class, () -> c.removeWhere("lang =="));
            assertEquals(2, c.search(new float[] {0, 1}, 5).size());
        }
    }
}
