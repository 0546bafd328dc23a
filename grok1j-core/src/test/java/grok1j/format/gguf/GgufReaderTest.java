package grok1j.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The GGUF reader on hand-built files: every value type, alignment, views, and each kind of bad file. */
class GgufReaderTest {
    @TempDir
    Path dir;

    static final int F32 = 0, Q8_0 = 8;

    /** A v3 file with one of each metadata type, nested arrays, alignment 64 and two tensors. */
    static byte[] sample(int version, int alignment) {
        GgufBytes b = new GgufBytes().header(version, 2, 16);
        b.key("general.architecture", 8).str("grok");
        b.key("general.alignment", 4).u32(alignment);
        b.key("u8", 0).u8(200);
        b.key("i8", 1).u8(0xFE);
        b.key("u16", 2).u16(60000);
        b.key("i16", 3).u16(0xFFFF);
        b.key("u32", 4).u32(4_000_000_000L);
        b.key("i32", 5).u32(-7);
        b.key("f32", 6).f32(1.5f);
        b.key("bool", 7).u8(1);
        b.key("u64", 10).u64(1L << 40);
        b.key("i64", 11).u64(-3);
        b.key("f64", 12).u64(Double.doubleToRawLongBits(2.25));
        b.key("strings", 9).u32(8).u64(3).str("a").str("").str("▁héllo");
        b.key("floats", 9).u32(6).u64(2).f32(0.5f).f32(-1f);
        // [[1, 2], [], [3]] as int32
        b.key("nested", 9).u32(9).u64(3).u32(5).u64(2).u32(1).u32(2).u32(5).u64(0).u32(5).u64(1).u32(3);
        b.tensorInfo("a", new long[] {3, 2}, F32, 0);
        b.tensorInfo("b", new long[] {32}, Q8_0, alignment);
        b.pad(alignment);
        for (int i = 0; i < 6; i++) {
            b.f32(i + 0.25f);
        }
        b.pad(alignment);
        b.u16(0x3C00); // d = 1.0
        for (int i = 0; i < 32; i++) {
            b.u8(i - 16);
        }
        return b.toArray();
    }

    Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    @Test
    void readsEveryValueTypeAndTensor() throws IOException {
        for (int version : new int[] {2, 3}) {
            try (GgufFile f = GgufFile.open(write("v" + version + ".gguf", sample(version, 64)))) {
                assertEquals(version, f.version());
                assertEquals(64, f.alignment());
                assertEquals("grok", f.getString("general.architecture", null));
                assertEquals(200, f.get("u8"));
                assertEquals(-2, f.get("i8"));
                assertEquals(60000, f.get("u16"));
                assertEquals(-1, f.get("i16"));
                assertEquals(4_000_000_000L, f.get("u32"));
                assertEquals(-7, f.get("i32"));
                assertEquals(1.5f, f.get("f32"));
                assertEquals(true, f.get("bool"));
                assertEquals(1L << 40, f.get("u64"));
                assertEquals(-3L, f.get("i64"));
                assertEquals(2.25, f.get("f64"));
                assertEquals(GgufValueType.UINT32, f.type("u32"));
                assertArrayEquals(new String[] {"a", "", "▁héllo"}, f.getArray("strings").toStringArray());
                assertArrayEquals(new float[] {0.5f, -1f}, f.getArray("floats").toFloatArray());
                GgufArray nested = f.getArray("nested");
                assertEquals(3, nested.length());
                assertArrayEquals(new int[] {1, 2}, nested.getArray(0).toIntArray());
                assertEquals(0, nested.getArray(1).length());
                assertArrayEquals(new int[] {3}, nested.getArray(2).toIntArray());

                assertEquals(2, f.tensors().size());
                GgufTensor a = f.tensor("a");
                assertEquals(GgmlType.F32, a.type());
                assertArrayEquals(new long[] {2, 3}, a.shape());
                assertEquals(24, a.data().byteSize());
                assertEquals(0, a.offset() % 64);
                assertEquals(5.25f, a.data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 5));
                GgufTensor q = f.tensor("b");
                assertEquals(GgmlType.Q8_0, q.type());
                assertEquals(34, q.data().byteSize());
                assertEquals(a.offset() + 64, q.offset());
            }
        }
    }

    /** Asserts that opening fails with a one-line GgufFormatException whose message contains each fragment. */
    GgufFormatException bad(byte[] bytes, String... fragments) throws IOException {
        Path p = write("bad.gguf", bytes);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.open(p).close());
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertTrue(m.contains(p.toString()), m);
        for (String s : fragments) {
            assertTrue(m.contains(s), "'" + s + "' not in: " + m);
        }
        return e;
    }

    @Test
    void everyTruncationOfTheHeaderFailsCleanly() throws IOException {
        byte[] full = sample(3, 32);
        int headerEnd = full.length - 96; // 6 floats padded to 32 + one Q8_0 block padded
        for (int n = 0; n < headerEnd; n++) {
            bad(Arrays.copyOf(full, n), "offset");
        }
    }

    @Test
    void truncatedDataNamesTheTensor() throws IOException {
        byte[] full = sample(3, 32);
        bad(Arrays.copyOf(full, full.length - 1), "tensor b", "outside the file");
    }

    @Test
    void notGguf() throws IOException {
        bad("GGML\3\0\0\0".getBytes(), "not a GGUF file", "offset 0");
        bad(new GgufBytes().header(1, 0, 0).toArray(), "version 1");
        bad(new GgufBytes().u32(0x46554747L).u32(3L << 24).u64(0).u64(0).toArray(), "big-endian");
    }

    @Test
    void stringLongerThanTheFile() throws IOException {
        byte[] b = new GgufBytes().header(3, 0, 1).u64(1L << 40).bytes(new byte[64]).toArray();
        bad(b, "metadata key length 1099511627776 is larger than the file", "offset 24");
        b = new GgufBytes().header(3, 0, 1).key("k", 8).u64(-1L).bytes(new byte[64]).toArray();
        bad(b, "string length 18446744073709551615 is larger than the file");
    }

    @Test
    void arrayLongerThanTheFile() throws IOException {
        bad(new GgufBytes().header(3, 0, 1).key("k", 9).u32(4).u64(1L << 61).toArray(), "array length", "larger than the file");
        // a string array whose count would fit 1-byte elements but not 8-byte string headers
        bad(new GgufBytes().header(3, 0, 1).key("k", 9).u32(8).u64(4).u32(0).u32(0).u32(0).u32(0).toArray(), "larger than the file");
        bad(new GgufBytes().header(3, 1L << 62, 0).toArray(), "tensor count");
    }

    @Test
    void deeplyNestedArraysAreRefused() throws IOException {
        GgufBytes b = new GgufBytes().header(3, 0, 1).key("k", 9);
        for (int i = 0; i < 100; i++) {
            b.u32(9).u64(1);
        }
        b.u32(0).u64(0);
        bad(b.toArray(), "nested deeper");
    }

    @Test
    void unknownValueType() throws IOException {
        bad(new GgufBytes().header(3, 0, 1).key("k", 13).u32(0).toArray(), "unknown metadata value type 13");
    }

    @Test
    void absurdDimensions() throws IOException {
        bad(new GgufBytes().header(3, 1, 0).tensorInfo("w", new long[] {1L << 32, 1L << 32}, F32, 0).toArray(),
                "tensor w dimensions overflow");
        bad(new GgufBytes().header(3, 1, 0).tensorInfo("w", new long[] {1L << 31, 1L << 31}, F32, 0).toArray(),
                "tensor w byte size overflows");
        bad(new GgufBytes().header(3, 1, 0).tensorInfo("w", new long[] {-1}, F32, 0).toArray(), "tensor w dimension 0");
        bad(new GgufBytes().header(3, 1, 0).tensorInfo("w", new long[] {1, 1, 1, 1, 1}, F32, 0).toArray(),
                "tensor w has 5 dimensions");
        bad(new GgufBytes().header(3, 1, 0).tensorInfo("w", new long[] {33}, Q8_0, 0).toArray(),
                "tensor w row length 33 is not a multiple of the Q8_0 block size 32");
    }

    @Test
    void offsetsOutsideTheFileOrUnaligned() throws IOException {
        byte[] b = new GgufBytes().header(3, 1, 0).tensorInfo("w", new long[] {4}, F32, 64).pad(32).f32(1).f32(2).f32(3).f32(4).toArray();
        bad(b, "tensor w", "outside the file");
        b = new GgufBytes().header(3, 1, 0).tensorInfo("w", new long[] {4}, F32, 8).pad(32).bytes(new byte[64]).toArray();
        bad(b, "tensor w", "not a multiple of the alignment 32");
        b = new GgufBytes().header(3, 1, 0).tensorInfo("w", new long[] {4}, F32, -32).pad(32).bytes(new byte[64]).toArray();
        bad(b, "tensor w");
    }

    @Test
    void unknownTypeId() throws IOException {
        bad(new GgufBytes().header(3, 1, 0).tensorInfo("w", new long[] {4}, 31, 0).pad(32).bytes(new byte[64]).toArray(),
                "tensor w has unknown ggml type id 31");
        bad(new GgufBytes().header(3, 1, 0).tensorInfo("w", new long[] {4}, 4000, 0).pad(32).bytes(new byte[64]).toArray(),
                "unknown ggml type id 4000");
    }

    @Test
    void duplicates() throws IOException {
        bad(new GgufBytes().header(3, 2, 0).tensorInfo("w", new long[] {4}, F32, 0).tensorInfo("w", new long[] {4}, F32, 32)
                .pad(32).bytes(new byte[64]).toArray(), "duplicate tensor name w");
        bad(new GgufBytes().header(3, 0, 2).key("k", 4).u32(1).key("k", 4).u32(2).toArray(), "duplicate metadata key k");
    }

    @Test
    void badAlignment() throws IOException {
        bad(new GgufBytes().header(3, 0, 1).key("general.alignment", 4).u32(48).toArray(), "general.alignment");
        bad(new GgufBytes().header(3, 0, 1).key("general.alignment", 4).u32(0).toArray(), "general.alignment");
    }

    @Test
    void overlappingOrSharedTensorDataIsRefused() throws IOException {
        // b starts inside a's 16 bytes
        bad(new GgufBytes().header(3, 2, 0).tensorInfo("a", new long[] {16}, F32, 0).tensorInfo("b", new long[] {4}, F32, 32)
                .pad(32).bytes(new byte[128]).toArray(), "tensor b", "overlaps the data of tensor a");
        // the same range twice
        bad(new GgufBytes().header(3, 2, 0).tensorInfo("a", new long[] {4}, F32, 0).tensorInfo("b", new long[] {4}, F32, 0)
                .pad(32).bytes(new byte[64]).toArray(), "overlaps the data of tensor a");
        // adjacent ranges and empty tensors are fine
        byte[] ok = new GgufBytes().header(3, 3, 0).tensorInfo("a", new long[] {8}, F32, 0).tensorInfo("b", new long[] {8}, F32, 32)
                .tensorInfo("e", new long[] {0}, F32, 0).pad(32).bytes(new byte[64]).toArray();
        try (GgufFile f = GgufFile.open(write("ok.gguf", ok))) {
            assertEquals(3, f.tensors().size());
        }
    }

    @Test
    void invalidUtf8IsRefusedNamingTheKey() throws IOException {
        byte[] bad = {'a', (byte) 0xC3, 'b'}; // 0xC3 starts a two-byte sequence that 'b' does not continue
        bad(new GgufBytes().header(3, 0, 1).key("general.name", 8).u64(3).bytes(bad).toArray(),
                "metadata general.name is not valid UTF-8");
        bad(new GgufBytes().header(3, 0, 1).key("tokenizer.ggml.tokens", 9).u32(8).u64(2).str("ok").u64(3).bytes(bad).toArray(),
                "metadata tokenizer.ggml.tokens is not valid UTF-8");
        bad(new GgufBytes().header(3, 0, 1).u64(3).bytes(bad).u32(4).u32(1).toArray(), "metadata key is not valid UTF-8");
        bad(new GgufBytes().header(3, 1, 0).u64(3).bytes(bad).u32(1).u64(4).u32(F32).u64(0).pad(32).bytes(new byte[16]).toArray(),
                "tensor name is not valid UTF-8");
        // an encoded surrogate (CESU-8) is not UTF-8 either
        bad(new GgufBytes().header(3, 0, 1).key("general.name", 8).u64(3).bytes(new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}).toArray(),
                "general.name is not valid UTF-8");
    }

    @Test
    void knownKeysOfTheWrongTypeAreRefused() throws IOException {
        bad(new GgufBytes().header(3, 0, 1).key("tokenizer.ggml.scores", 9).u32(5).u64(2).u32(1).u32(2).toArray(),
                "tokenizer.ggml.scores must be an array of FLOAT32 or FLOAT64, found an array of INT32");
        bad(new GgufBytes().header(3, 0, 1).key("tokenizer.ggml.tokens", 9).u32(5).u64(1).u32(7).toArray(),
                "tokenizer.ggml.tokens must be an array of STRING, found an array of INT32");
        bad(new GgufBytes().header(3, 0, 1).key("tokenizer.ggml.token_type", 9).u32(6).u64(1).f32(1).toArray(),
                "tokenizer.ggml.token_type must be an array of an integer type, found an array of FLOAT32");
        bad(new GgufBytes().header(3, 0, 1).key("tokenizer.ggml.tokens", 8).str("abc").toArray(),
                "tokenizer.ggml.tokens must be an array of STRING, found STRING");
        bad(new GgufBytes().header(3, 0, 1).key("tokenizer.ggml.bos_token_id", 8).str("1").toArray(),
                "tokenizer.ggml.bos_token_id must be an integer type, found STRING");
        bad(new GgufBytes().header(3, 0, 1).key("general.architecture", 4).u32(1).toArray(),
                "general.architecture must be STRING, found UINT32");
        // the types llama.cpp writes pass
        byte[] ok = new GgufBytes().header(3, 0, 3).key("tokenizer.ggml.tokens", 9).u32(8).u64(1).str("a")
                .key("tokenizer.ggml.scores", 9).u32(6).u64(1).f32(0).key("tokenizer.ggml.token_type", 9).u32(5).u64(1).u32(1)
                .toArray();
        try (GgufFile f = GgufFile.open(write("ok.gguf", ok))) {
            assertEquals(1, f.getArray("tokenizer.ggml.tokens").length());
        }
    }

    /** Random corruption of a valid file: every result is either a parse or a GgufFormatException. */
    @Test
    void randomCorruptionNeverEscapes() throws IOException {
        byte[] full = sample(3, 32);
        Random r = new Random(42);
        Path p = dir.resolve("fuzz.gguf");
        for (int iter = 0; iter < 3000; iter++) {
            byte[] b = full.clone();
            int flips = 1 + r.nextInt(4);
            for (int i = 0; i < flips; i++) {
                int at = r.nextInt(full.length - 96);
                b[at] = r.nextInt(3) == 0 ? (byte) 0xFF : (byte) r.nextInt(256);
            }
            Files.write(p, b);
            try (GgufFile f = GgufFile.open(p)) {
                for (Object v : f.metadata().values()) {
                    String.valueOf(v);
                }
            } catch (GgufFormatException e) {
                assertFalse(e.getMessage().contains("\n"));
            }
        }
    }
}
