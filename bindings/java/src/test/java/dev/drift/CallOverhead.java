package dev.drift;

import java.nio.file.Path;

/** Per-call cost of one search through the Java binding (see examples/call_overhead.rs). */
public final class CallOverhead {
    private CallOverhead() {}

    public static void main(String[] args) {
        int rows = 1000, dim = 16;
        long searches = args.length > 1 ? Long.parseLong(args[1]) : 20000;
        float[][] queries = new float[rows][dim];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < dim; j++) {
                queries[i][j] = ((i * 31 + j * 17) % 97) / 97.0f;
            }
        }
        try (Database db = Database.open(Path.of(args[0])); Collection c = db.collection("overhead")) {
            for (int i = 0; i < 20000; i++) {
                c.search(queries[i % rows], 10);
            }
            long t0 = System.nanoTime();
            long checksum = 0;
            for (long i = 0; i < searches; i++) {
                checksum += c.search(queries[(int) (i % rows)], 10).get(0).documentId().low();
            }
            double micros = (System.nanoTime() - t0) / 1e3 / searches;
            System.out.printf("java %.3f us/search (checksum %d)%n", micros, checksum);
        }
    }
}
