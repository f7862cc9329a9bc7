package dev.drift;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HexFormat;

/** A 128-bit document id, stored as 16 little-endian bytes (as in the C API). */
public final class DocumentId {
    private final byte[] bytes;

    private DocumentId(byte[] bytes) {
        this.bytes = bytes;
    }

    /** The id of 16 little-endian bytes. */
    public static DocumentId ofBytes(byte[] littleEndian) {
        if (littleEndian.length != 16) {
            throw new IllegalArgumentException("a document id has 16 bytes, got " + littleEndian.length);
        }
        return new DocumentId(littleEndian.clone());
    }

    /** The id whose low 64 bits are {@code value} and high 64 bits zero. */
    public static DocumentId of(long value) {
        byte[] b = new byte[16];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(value);
        return new DocumentId(b);
    }

    /** The 16 little-endian bytes. */
    public byte[] toBytes() {
        return bytes.clone();
    }

    /** The low 64 bits. */
    public long low() {
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DocumentId d && Arrays.equals(bytes, d.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return HexFormat.of().formatHex(bytes);
    }
}
