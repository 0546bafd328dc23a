package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The work list covers every output column of every entry exactly once, whatever the thread count. */
class MatmulListTest {

    /** Counts how often each output column is computed. */
    static final class Counting implements WeightMatrix {
        final int k, n, align, partsPerThread;
        final int[] hits;
        int calls;

        Counting(int k, int n, int align) {
            this(k, n, align, 1);
        }

        Counting(int k, int n, int align, int partsPerThread) {
            this.k = k;
            this.n = n;
            this.align = align;
            this.partsPerThread = partsPerThread;
            this.hits = new int[n];
        }

        @Override public int partsPerThread(int tokens) { return partsPerThread; }

        @Override public int inputDim() { return k; }
        @Override public int outputDim() { return n; }
        @Override public int columnAlignment() { return align; }
        @Override public long storedBytes() { return (long) k * n; }
        @Override public String typeName() { return "counting"; }

        @Override
        public synchronized void multiply(float[] x, int tokens, float[] y, int n0, int n1) {
            calls++;
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

    @Test
    void matricesThatTakeSeveralPartsPerThreadAreCutFiner() {
        try (ThreadPool pool = new ThreadPool(2)) {
            MatmulList list = new MatmulList();
            Counting fine = new Counting(6144, 32768, 16, 8);
            list.add(fine, new float[fine.k], 1, new float[fine.n]).run(pool);
            assertEquals(16, fine.calls, "2 threads x 8 parts, each a range of the one matrix");
            for (int c = 0; c < fine.n; c++) {
                assertEquals(1, fine.hits[c], "column " + c);
            }
            // with a matrix that keeps one part per thread in the same region, the region keeps it too
            Counting fine2 = new Counting(6144, 32768, 16, 8), wide = new Counting(6144, 32768, 64);
            list.add(fine2, new float[fine2.k], 1, new float[fine2.n]).add(wide, new float[wide.k], 1, new float[wide.n]).run(pool);
            assertEquals(1, fine2.calls);
            assertEquals(1, wide.calls);
        }
    }

    @Test
    void ggufMatricesTakeFinePartsInDecodeOnly() {
        assertEquals(GgufMatrix.DECODE_PARTS_PER_THREAD, ggufQ8(1).partsPerThread(1));
        assertEquals(GgufMatrix.DECODE_PARTS_PER_THREAD, ggufQ8(1).partsPerThread(GgufPanelGemm.MIN_TOKENS - 1));
        assertEquals(1, ggufQ8(1).partsPerThread(GgufPanelGemm.MIN_TOKENS), "the prefill GEMM keeps one part per thread");
    }

    private static GgufMatrix ggufQ8(int rows) {
        int k = 64; // two Q8_0 blocks per row, zero bytes (scale 0)
        return new GgufMatrix(GgmlType.Q8_0, java.lang.foreign.MemorySegment.ofArray(new byte[rows * 68]), k, rows);
    }
}
