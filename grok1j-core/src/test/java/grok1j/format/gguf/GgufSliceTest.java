package grok1j.format.gguf;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.tensor.GgmlType;
import grok1j.tensor.GgufMatrix;
import grok1j.tensor.WeightMatrix;
import grok1j.tensor.WeightSliceTest;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** GGUF matrices split for tensor parallelism: by stored rows (output columns) anywhere, by input rows at block boundaries. */
class GgufSliceTest {

    @Test
    void slicesMatchTheWholeMatrixAndUnalignedCutsAreRefused() {
        try (Arena arena = Arena.ofConfined()) {
            for (GgmlType type : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
                    GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q5_1}) {
                int k = type.blockSize() == 256 ? 512 : 96;
                int n = 37;
                byte[] bytes = Blocks.random(type, k / type.blockSize() * n, new Random(7));
                MemorySegment seg = arena.allocate(bytes.length);
                MemorySegment.copy(bytes, 0, seg, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, bytes.length);
                GgufMatrix w = new GgufMatrix(type, seg, k, n);
                WeightMatrix cols = w.columns(10, 30);
                int cut = type.blockSize() == 1 ? 33 : type.blockSize();
                WeightMatrix rows = w.rows(cut, k);
                for (int tokens : WeightSliceTest.TOKENS) {
                    WeightSliceTest.checkColumns(w, cols, 10, tokens);
                    WeightSliceTest.checkRows(w, rows, cut, tokens);
                }
                if (type.blockSize() > 1) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> w.rows(0, k - 1));
                    assertTrue(e.getMessage().contains(type.name()), e.getMessage());
                }
            }
        }
    }
}
