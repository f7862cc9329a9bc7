package dev.drift;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The S3 tier against the test server scripts/test-all.sh starts (skipped without it). */
class ObjectStoreTest {
    @TempDir
    Path dir;

    static ObjectStore store(String prefix) {
        String endpoint = System.getenv("DRIFT_S3_ENDPOINT");
        String bucket = System.getenv("DRIFT_S3_BUCKET");
        assumeTrue(endpoint != null && bucket != null, "skipped: no S3 endpoint (scripts/test-all.sh starts one)");
        return ObjectStore.of(bucket, prefix).withEndpoint(endpoint);
    }

    @Test
    void aTakeoverFencesTheOldWriter() {
        ObjectStore writer = store("java-" + System.nanoTime());
        try (Database old = Database.openWithObjectStore(dir.resolve("old"), writer, false)) {
            Collection c = old.createCollection("c", 4, Database.Metric.L2);
            c.add(List.of(Posting.of(DocumentId.of(1), new float[] {1, 0, 0, 0})));
            old.flush();
            old.syncObjectStore();
            TierStats stats = old.tierStats();
            assertTrue(stats.generation() >= 1 && stats.requests() > 0 && stats.pendingFiles() == 0, stats.toString());
            assertFalse(stats.ownershipLost());
            assertNull(stats.lastError());

            ObjectStore restore = writer.withMode(ObjectStore.Mode.RESTORE);
            try (Database taken = Database.openWithObjectStore(dir.resolve("new"), restore, false)) {
                List<Hit> hits = taken.collection("c").search(new float[] {1, 0, 0, 0}, 1);
                assertEquals(1, hits.get(0).documentId().low());
                DriftException e = assertThrows(DriftException.class, old::syncObjectStore);
                assertEquals(DriftException.Code.NOT_OWNER, e.code());
                TierStats lost = old.tierStats();
                assertTrue(lost.ownershipLost() && lost.lastError().contains("took the prefix over"), lost.toString());
                taken.syncObjectStore();
            }
        }
        try (Database local = Database.open(dir.resolve("local"))) {
            assertEquals(DriftException.Code.INVALID_ARGUMENT, assertThrows(DriftException.class, local::tierStats).code());
        }
    }

    @Test
    void aStoreThatNeverAnswersFailsWithinTheTimeout() throws Exception {
        ObjectStore base = store("java-silent");
        try (ServerSocket silent = new ServerSocket(0, 64, InetAddress.getLoopbackAddress())) {
            String url = "http://127.0.0.1:" + silent.getLocalPort();
            ObjectStore hanging = base.withEndpoint(url).withRequestTimeout(Duration.ofMillis(700));
            long started = System.nanoTime();
            DriftException e = assertThrows(DriftException.class,
                    () -> Database.openWithObjectStore(dir.resolve("db"), hanging, false));
            long tookMs = (System.nanoTime() - started) / 1_000_000;
            assertEquals(DriftException.Code.REMOTE, e.code());
            assertTrue(e.getMessage().contains(url), e.getMessage());
            assertTrue(tookMs < 5000, "the open failed after " + tookMs + " ms with a 700 ms timeout");
        }
    }
}
