package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The work list covers every output column of every entry exactly once, whatever the thread count. */
class MatmulListTest {

    /** Counts how often each output column is computed. */
    static final class Counting implements WeightMatrix {
        final int k, n, align;
        final int[] hits;

        Counting(int k, int n, int align) {
            this.k = k;
            this.n = n;
            this.align = align;
            this.hits = new int[n];
        }

        @Override public int inputDim() { return k; }
        @Override public int outputDim() { return n; }
        @Override public int columnAlignment() { return align; }
        @Override public long storedBytes() { return (long) k * n; }
        @Override public String typeName() { return "counting"; }

        @Override
        public synchronized void multiply(float[] x, int tokens, float[] y, int n0, int n1) {
            for (int c = n0; c < n1; c++) {
                hits[c]++;
                y[c] = c;
            }
        }
    }

    @Test
    void everyColumnOnceForAnyThreadCount() {
        for (int threads = 1; threads <= 5; threads++) {
            try (ThreadPool pool = new ThreadPool(threads)) {
                MatmulList list = new MatmulList();
                Counting[] ws = {new Counting(6144, 32768, 64), new Counting(6144, 1000, 64), new Counting(100, 7, 16),
                        new Counting(32768, 6144, 64), new Counting(1, 1, 1)};
                for (Counting w : ws) {
                    list.add(w, new float[w.k], 1, new float[w.n]);
                }
                list.run(pool);
                assertEquals(0, list.size(), "run clears the list");
                for (Counting w : ws) {
                    for (int c = 0; c < w.n; c++) {
                        assertEquals(1, w.hits[c], threads + " threads, [" + w.k + "x" + w.n + "] column " + c);
                    }
                }
            }
        }
    }

    @Test
    void manyEntriesGrowTheList() {
        try (ThreadPool pool = new ThreadPool(2)) {
            MatmulList list = new MatmulList();
            Counting[] ws = new Counting[20];
            for (int i = 0; i < ws.length; i++) {
                ws[i] = new Counting(512, 100 + i * 37, 16);
                list.add(ws[i], new float[512], 1, new float[ws[i].n]);
            }
            list.run(pool);
            for (Counting w : ws) {
                for (int c = 0; c < w.n; c++) {
                    assertEquals(1, w.hits[c]);
                }
            }
        }
    }
}
