package dev.drift;

import java.time.Duration;

/**
 * The S3 tier of {@link Database#openWithObjectStore}: where the database keeps its copy
 * and what it is to that prefix. Immutable; the {@code with*} methods return changed
 * copies. Credentials come from the AWS environment variables.
 *
 * <pre>{@code
 * ObjectStore store = ObjectStore.of("my-bucket", "dbs/products")
 *         .withRequestTimeout(Duration.ofSeconds(5));
 * try (Database db = Database.openWithObjectStore(Path.of("products-db"), store)) { ... }
 * }</pre>
 *
 * @param bucket bucket name
 * @param prefix key prefix of the database in the bucket
 * @param endpoint an S3-compatible endpoint URL, or null for AWS
 * @param region the region, or null for us-east-1
 * @param mode writer, restore (take the prefix over) or replica (read-only)
 * @param allowHttp permit {@code http://} endpoints (local test servers)
 * @param localDiskBudget bytes of shard files kept locally (promoted shards above it are
 *     evicted and fetched back when searched), or null to keep everything
 * @param interval between background promotion (or refresh) rounds; null for 1 s
 * @param connectTimeout how long connecting may take; null for 3 s
 * @param requestTimeout how long one object-store operation may take, retries included
 *     (an open, a round's request, a cold search's fetch); null for 10 s
 */
public record ObjectStore(
        String bucket,
        String prefix,
        String endpoint,
        String region,
        Mode mode,
        boolean allowHttp,
        Long localDiskBudget,
        Duration interval,
        Duration connectTimeout,
        Duration requestTimeout) {

    /** What the database is to its prefix. */
    public enum Mode {
        /** Promote to the prefix (own it). */
        WRITER(0),
        /** Restore the prefix into an empty directory and take it over; the old writer is fenced. */
        RESTORE(1),
        /** Follow the prefix read-only. */
        REPLICA(2);

        final int code;

        Mode(int code) {
            this.code = code;
        }
    }

    /** A writer of {@code bucket}/{@code prefix} with defaults for the rest. */
    public static ObjectStore of(String bucket, String prefix) {
        return new ObjectStore(bucket, prefix, null, null, Mode.WRITER, false, null, null, null, null);
    }

    /** The same, against an S3-compatible endpoint ({@code http://} allowed). */
    public ObjectStore withEndpoint(String url) {
        return new ObjectStore(bucket, prefix, url, region, mode, true, localDiskBudget, interval, connectTimeout, requestTimeout);
    }

    /** The same, in another mode. */
    public ObjectStore withMode(Mode m) {
        return new ObjectStore(bucket, prefix, endpoint, region, m, allowHttp, localDiskBudget, interval, connectTimeout, requestTimeout);
    }

    /** The same, with a local disk budget in bytes. */
    public ObjectStore withLocalDiskBudget(long bytes) {
        return new ObjectStore(bucket, prefix, endpoint, region, mode, allowHttp, bytes, interval, connectTimeout, requestTimeout);
    }

    /** The same, with another request timeout. */
    public ObjectStore withRequestTimeout(Duration timeout) {
        return new ObjectStore(bucket, prefix, endpoint, region, mode, allowHttp, localDiskBudget, interval, connectTimeout, timeout);
    }

    /** The same, with another connect timeout. */
    public ObjectStore withConnectTimeout(Duration timeout) {
        return new ObjectStore(bucket, prefix, endpoint, region, mode, allowHttp, localDiskBudget, interval, timeout, requestTimeout);
    }
}
