package grok1j.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import grok1j.tensor.GgmlQuant;
import grok1j.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Write-then-read of small GGUF files: metadata of every written type, each tensor type's bytes, alignment, tiles. */
class GgufWriterTest {
    @TempDir
    Path dir;

    @Test
    void writeThenRead() throws IOException {
        Random r = new Random(9);
        int k = 512, rows = 3;
        float[] data = new float[k * rows * 2];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) r.nextGaussian();
        }
        GgufWriter w = new GgufWriter().alignment(64)
                .putString("general.architecture", "grok")
                .put("u8", GgufValueType.UINT8, 255)
                .put("i16", GgufValueType.INT16, -5)
                .putU32("u32", 4_000_000_000L)
                .put("i64", GgufValueType.INT64, -9L)
                .put("f64", GgufValueType.FLOAT64, 0.1)
                .putF32("f32", 0.25f)
                .putBool("b", true)
                .putArray("s", GgufValueType.STRING, new String[] {"x", "", "ÿ"})
                .putArray("i", GgufValueType.INT32, new int[] {1, -2, 3});
        GgmlType[] types = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K};
        for (GgmlType t : types) {
            // 3-D {k, rows, 2}: the source sees rows 0..5 in tiles
            w.addTensor("t_" + t, t, new long[] {k, rows, 2}, (first, count, buf) ->
                    System.arraycopy(data, (int) first * k, buf, 0, count * k));
        }
        w.addTensor("odd", GgmlType.F32, new long[] {3}, (first, count, buf) -> {
            buf[0] = 1; buf[1] = 2; buf[2] = 3;
        });
        Path out = dir.resolve("w.gguf");
        assertEquals(List.of(out), w.write(out, 0, null));
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals(3, f.version());
            assertEquals(64, f.alignment());
            assertEquals("grok", f.get("general.architecture"));
            assertEquals(255, f.get("u8"));
            assertEquals(-5, f.get("i16"));
            assertEquals(4_000_000_000L, f.get("u32"));
            assertEquals(-9L, f.get("i64"));
            assertEquals(0.1, f.get("f64"));
            assertEquals(0.25f, f.get("f32"));
            assertEquals(true, f.get("b"));
            assertArrayEquals(new String[] {"x", "", "ÿ"}, f.getArray("s").toStringArray());
            assertArrayEquals(new int[] {1, -2, 3}, f.getArray("i").toIntArray());
            for (GgmlType t : types) {
                GgufTensor tensor = f.tensor("t_" + t);
                assertEquals(t, tensor.type());
                assertArrayEquals(new long[] {2, rows, k}, tensor.shape());
                assertEquals(0, tensor.offset() % 64);
                byte[] expect = new byte[(int) t.bytesFor(data.length)];
                GgmlQuant.quantize(t, data, 0, data.length, MemorySegment.ofArray(expect), 0);
                assertArrayEquals(expect, tensor.data().toArray(ValueLayout.JAVA_BYTE), t.toString());
            }
            assertEquals(3f, f.tensor("odd").data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 2));
        }
        assertEquals(List.of(out), Files.list(dir).toList()); // no .part left behind
    }

    @Test
    void refusesWhatItCannotWrite() {
        GgufWriter w = new GgufWriter();
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("a", GgmlType.Q4_0, new long[] {32}, null));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("a", GgmlType.Q8_0, new long[] {48}, null));
        assertThrows(IllegalArgumentException.class, () -> w.putU32("split.count", 2));
        w.putU32("k", 1);
        assertThrows(IllegalArgumentException.class, () -> w.putU32("k", 2));
        assertThrows(IllegalArgumentException.class, () -> w.put("k2", GgufValueType.UINT32, "x"));
    }

    @Test
    void aFailingSourceLeavesNoFile() {
        GgufWriter w = new GgufWriter().addTensor("a", GgmlType.F32, new long[] {4}, (first, count, buf) -> {
            throw new IllegalStateException("source failed");
        });
        Path out = dir.resolve("fail.gguf");
        assertThrows(IllegalStateException.class, () -> w.write(out, 0, null));
        assertEquals(0, dir.toFile().list().length);
    }
}
