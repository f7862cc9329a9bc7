package dev.drift;

/** An error reported by drift: a stable status code (the C API's DRIFT_E*) and a message. */
public final class DriftException extends RuntimeException {
    /** Status codes, identical to drift.h. */
    public enum Code {
        OK(0), INVALID_ARGUMENT(1), DIMENSION_MISMATCH(2), NON_FINITE(3), NOT_FOUND(4), ALREADY_EXISTS(5),
        LOCKED(6), IO(7), NO_SPACE(8), CORRUPT(9), UNSUPPORTED_VERSION(10), POISONED(11), CLOSED(12), INTERNAL(13),
        REMOTE(14), NOT_OWNER(15), READ_ONLY(16), BUSY(17);

        /** The numeric value of drift.h. */
        public final int value;

        Code(int value) {
            this.value = value;
        }

        static Code of(int value) {
            for (Code c : values()) {
                if (c.value == value) {
                    return c;
                }
            }
            return INTERNAL;
        }
    }

    private final Code code;

    DriftException(int status, String message) {
        super(message + " (code " + status + ")");
        this.code = Code.of(status);
    }

    /** The status code. */
    public Code code() {
        return code;
    }
}
