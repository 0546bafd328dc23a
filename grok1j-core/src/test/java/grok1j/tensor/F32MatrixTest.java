package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** F32Matrix in both layouts against its scalar reference on odd sizes, several tokens and split ranges. */
class F32MatrixTest {

    static void check(int k, int n, F32Matrix.Layout layout, int tokens, ThreadPool pool) {
        Random rnd = new Random(k * 31L + n);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment m = arena.allocate(4L * k * n + 1).asSlice(1); // unaligned, as in the release
            for (long i = 0; i < (long) k * n; i++) {
                m.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, (float) rnd.nextGaussian());
            }
            F32Matrix w = new F32Matrix(m.asSlice(0, 4L * k * n), k, n, layout);
            float[] x = new float[k * tokens];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rnd.nextGaussian();
            }
            float[] want = new float[n * tokens];
            w.multiplyScalar(x, tokens, want, 0, n);
            float[] got = new float[n * tokens];
            if (pool == null) {
                w.multiply(x, tokens, got, 0, n);
            } else {
                Kernels.matmul(pool, w, x, tokens, got);
            }
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], 1e-5 * Math.sqrt(k) + 1e-5, layout + " [" + k + "x" + n + "] x" + tokens + " at " + i);
            }
        }
    }

    @Test
    void outInOddSizes() {
        for (int tokens : new int[] {1, 3}) {
            for (int[] s : new int[][] {{1, 1}, {7, 5}, {32, 100}, {37, 13}, {129, 67}, {6144 / 16 + 5, 33}}) {
                check(s[0], s[1], F32Matrix.Layout.OUT_IN, tokens, null);
            }
        }
    }

    /** Rows taken several per pass give each row the bits it has alone (one row per call: the one-row kernel). */
    @Test
    void rowsPerPassDoNotChangeBits() {
        for (int[] s : new int[][] {{6144 / 16 + 5, 37}, {64, 9}, {200, 8}}) {
            int k = s[0], n = s[1];
            Random rnd = new Random(k + n);
            try (Arena arena = Arena.ofShared()) {
                MemorySegment m = arena.allocate(4L * k * n);
                for (long i = 0; i < (long) k * n; i++) {
                    m.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, (float) rnd.nextGaussian());
                }
                F32Matrix w = new F32Matrix(m, k, n, F32Matrix.Layout.OUT_IN);
                float[] x = new float[2 * k];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                float[] all = new float[2 * n], alone = new float[2 * n];
                w.multiply(x, 2, all, 0, n);
                for (int c = 0; c < n; c++) {
                    w.multiply(x, 2, alone, c, c + 1);
                }
                for (int i = 0; i < all.length; i++) {
                    assertEquals(Float.floatToRawIntBits(alone[i]), Float.floatToRawIntBits(all[i]), k + "x" + n + " at " + i);
                }
            }
        }
    }

    @Test
    void inOutOddSizes() {
        for (int tokens : new int[] {1, 2}) {
            for (int[] s : new int[][] {{1, 1}, {32, 8}, {37, 13}, {129, 8}}) {
                check(s[0], s[1], F32Matrix.Layout.IN_OUT, tokens, null);
            }
        }
    }

    @Test
    void splitAcrossThreads() {
        try (ThreadPool pool = new ThreadPool(2)) {
            check(300, 1001, F32Matrix.Layout.OUT_IN, 1, pool);
            check(300, 1001, F32Matrix.Layout.OUT_IN, 4, pool);
            check(600, 77, F32Matrix.Layout.IN_OUT, 1, pool);
        }
    }
}
