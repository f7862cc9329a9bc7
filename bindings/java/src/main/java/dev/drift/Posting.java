package dev.drift;

/**
 * One vector and the span of the document it embeds. A {@code null} document id asks drift
 * for a fresh ULID; a batch names every document or none.
 */
public record Posting(DocumentId documentId, int start, int length, float[] vector) {
    /** A posting of {@code documentId} with an unused span. */
    public static Posting of(DocumentId documentId, float[] vector) {
        return new Posting(documentId, 0, 0, vector);
    }
}
