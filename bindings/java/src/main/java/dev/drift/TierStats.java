package dev.drift;

import java.time.Duration;

/**
 * The S3 tier's state ({@link Database#tierStats}).
 *
 * @param generation generation {@code POINTER} names, as last written (writer) or loaded (replica)
 * @param requests object-store requests since open
 * @param bytesUploaded bytes uploaded since open
 * @param bytesDownloaded bytes downloaded since open
 * @param pendingFiles sealed shard files not yet promoted
 * @param pendingBytes bytes of those files
 * @param lag time since a round first found local state the store lacks (zero when current)
 * @param evictions shard files evicted from local disk since open
 * @param fetches shard files fetched back since open
 * @param ownershipLost another writer took the prefix over: this database no longer promotes
 * @param lastError the last round's error, or why ownership was lost; null if none
 */
public record TierStats(
        long generation,
        long requests,
        long bytesUploaded,
        long bytesDownloaded,
        long pendingFiles,
        long pendingBytes,
        Duration lag,
        long evictions,
        long fetches,
        boolean ownershipLost,
        String lastError) {}
