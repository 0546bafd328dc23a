package grok1j.format.pickle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.format.ModelFormatException;
import grok1j.format.pickle.PickledArray.DType;
import grok1j.tensor.Int8GroupedMatrix;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The restricted pickle reader on shards written byte by byte (spec §4.4, §11). */
class PickleShardTest {
    @TempDir
    Path tmp;

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    /** Parses and expects failure; returns the message after checking it is one line naming the file. */
    private String reject(String name, byte[] bytes) throws IOException {
        Path p = write(name, bytes);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> PickleShard.read(p));
        String m = e.getMessage();
        assertTrue(m.startsWith(name + ": "), m);
        assertFalse(m.contains("\n"), m);
        return m;
    }

    // ---- accepted shards ----

    @Test
    void readsPlainF32Array() throws IOException {
        float[] v = {1, 2, 3, -4, 5.5f, 6};
        PickleBytes p = new PickleBytes().proto();
        p.ndarray("f4", "<", false, PickleBytes.f32(v), 2, 3).stop();
        PickleShard s = PickleShard.read(write("t", p.bytes()));
        assertFalse(s.quantized());
        assertNull(s.scales());
        assertEquals(4, s.protocol());
        PickledArray a = s.array();
        assertArrayEquals(new long[] {2, 3}, a.shape());
        assertEquals(DType.F32, a.dtype());
        assertEquals(ByteOrder.LITTLE_ENDIAN, a.order());
        assertEquals(p.payloadOffsets.getFirst(), a.offset());
        assertEquals(24, a.length());
        assertEquals(p.size(), s.size());
    }

    /** Spec §11: a QW8 with int8 (2,4,6) and bf16 scales (2,2,6), then dequantized through the mapped bytes. */
    @Test
    void readsQuantizedWeightAndDequantizes() throws IOException {
        byte[] q = new byte[2 * 4 * 6];
        for (int i = 0; i < q.length; i++) q[i] = (byte) (i * 37 - 128);
        float[] scales = new float[2 * 2 * 6];
        for (int i = 0; i < scales.length; i++) scales[i] = (i + 1) * 0.0625f;
        PickleBytes p = new PickleBytes().proto();
        p.quantized(q, new long[] {2, 4, 6}, PickleBytes.bf16(scales), new long[] {2, 2, 6}).stop();
        Path file = write("qw8", p.bytes());

        PickleShard s = PickleShard.read(file);
        assertTrue(s.quantized());
        assertEquals(DType.INT8, s.array().dtype());
        assertArrayEquals(new long[] {2, 4, 6}, s.array().shape());
        assertEquals(p.payloadOffsets.get(0), s.array().offset());
        assertEquals(48, s.array().length());
        assertEquals(DType.BF16, s.scales().dtype());
        assertArrayEquals(new long[] {2, 2, 6}, s.scales().shape());
        assertEquals(p.payloadOffsets.get(1), s.scales().offset());
        assertEquals(48, s.scales().length());

        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, s.size(), arena);
            for (int e = 0; e < 2; e++) {
                // expert e: K=4 rows in G=2 groups of 2 rows
                Int8GroupedMatrix m = new Int8GroupedMatrix(all.asSlice(s.array().offset() + 24L * e, 24),
                        all.asSlice(s.scales().offset() + 24L * e, 24), 4, 6, 2);
                for (int k = 0; k < 4; k++) {
                    for (int n = 0; n < 6; n++) {
                        float want = q[e * 24 + k * 6 + n] * scales[e * 12 + (k / 2) * 6 + n];
                        assertEquals(want, m.get(k, n), 0f, "e" + e + " k" + k + " n" + n);
                    }
                }
            }
        }
    }

    @Test
    void acceptsNewNumpyModuleNameAndTextGlobal() throws IOException {
        PickleBytes p = new PickleBytes().proto();
        p.global("numpy._core.multiarray", "_reconstruct").global("numpy", "ndarray");
        p.op('K', 0, 0x85, 'C', 1, 'b', 0x87, 'R').mark().integer(1).shapeTuple(3);
        p.dtypeObject("f4", "<").op(0x89).binbytes(PickleBytes.f32(1, 2, 3)).op('t', 'b').stop();
        assertArrayEquals(new long[] {3}, PickleShard.read(write("t", p.bytes())).array().shape());
    }

    /** Python's pickler frames small opcodes and writes large payloads outside frames; both must parse. */
    @Test
    void payloadsInsideAndOutsideFrames() throws IOException {
        byte[] big = new byte[70_000 * 4];
        PickleBytes p = new PickleBytes().proto().frame(0);
        p.ndarray("f4", "<", false, big, 70_000).frame(1).stop();
        PickleShard s = PickleShard.read(write("t", p.bytes()));
        assertEquals(p.payloadOffsets.getFirst(), s.array().offset());

        byte[] small = PickleBytes.shardOf(x -> x.ndarray("f4", "<", false, PickleBytes.f32(7), 1));
        byte[] framed = new byte[small.length + 9];
        framed[0] = small[0];
        framed[1] = small[1];
        framed[2] = (byte) 0x95;
        framed[3] = (byte) (small.length - 2);
        System.arraycopy(small, 2, framed, 11, small.length - 2);
        assertEquals(1, PickleShard.read(write("u", framed)).array().dim(0));
    }

    // ---- refused shards ----

    @Test
    void refusesOsSystemViaGlobal() throws IOException {
        byte[] b = new PickleBytes().proto().global("os", "system").str("echo hi").op(0x85, 'R').stop().bytes();
        assertEquals("t00005: offset 2: refusing global os.system", reject("t00005", b));
    }

    /** A replacement character could make "numpy\xff" look like an allowed name in a message: refuse the bytes. */
    @Test
    void refusesInvalidUtf8InStrings() throws IOException {
        byte[] shortStr = new PickleBytes().proto().op(0x8c, 3).raw(new byte[] {'a', (byte) 0xC3, 'b'}).stop().bytes();
        assertEquals("t: offset 4: string is not valid UTF-8", reject("t", shortStr));
        byte[] global = new PickleBytes().proto().op('c').raw(new byte[] {'o', (byte) 0xFF, '\n', 's', '\n'}).stop().bytes();
        assertEquals("t: offset 3: GLOBAL module name is not valid UTF-8", reject("t", global));
    }

    @Test
    void refusesOsSystemViaStackGlobal() throws IOException {
        PickleBytes p = new PickleBytes().proto().frame(10).str("os").str("system");
        int at = p.size();
        p.op(0x93).str("id").op(0x85, 'R').stop();
        assertEquals("tensor00005_000: offset " + at + ": refusing global os.system", reject("tensor00005_000", p.bytes()));
    }

    @Test
    void refusesOtherNumpyGlobalsAndCalls() throws IOException {
        assertTrue(reject("t", new PickleBytes().proto().stackGlobal("numpy", "load").stop().bytes())
                .endsWith("refusing global numpy.load"));
        // an accepted global used as a function it is not: ndarray(...) via REDUCE
        byte[] b = new PickleBytes().proto().stackGlobal("numpy", "ndarray").op(')', 'R').stop().bytes();
        assertTrue(reject("t", b).contains("refusing to call numpy.ndarray"));
        byte[] c = new PickleBytes().proto().stackGlobal("numpy", "ndarray").op(')', 0x81).stop().bytes();
        assertTrue(reject("t", c).contains("NEWOBJ of numpy.ndarray"));
    }

    @Test
    void refusesUnknownAndDisallowedOpcodes() throws IOException {
        assertEquals("t: offset 2: opcode 0xff (not a pickle opcode) is not allowed in a checkpoint shard",
                reject("t", new PickleBytes().proto().op(0xff).bytes()));
        assertTrue(reject("t", new PickleBytes().proto().op('i').bytes()).contains("0x69 (INST)"));
        assertTrue(reject("t", new PickleBytes().proto().op('P').bytes()).contains("(PERSID)"));
    }

    @Test
    void refusesFortranOrder() throws IOException {
        byte[] b = PickleBytes.shardOf(p -> p.ndarray("f4", "<", true, PickleBytes.f32(1, 2, 3, 4, 5, 6), 2, 3));
        assertTrue(reject("t", b).contains("Fortran-order array"));
    }

    @Test
    void refusesSizeMismatch() throws IOException {
        byte[] b = PickleBytes.shardOf(p -> p.ndarray("f4", "<", false, new byte[20], 2, 3));
        assertTrue(reject("t", b).endsWith("ndarray f32 [2,3] needs 24 bytes but its data has 20"));
    }

    @Test
    void refusesBigEndianAndUnknownDtypes() throws IOException {
        assertTrue(reject("t", PickleBytes.shardOf(p -> p.ndarray("f4", ">", false, new byte[4], 1)))
                .contains("unsupported byte order '>' for f4"));
        assertTrue(reject("t", PickleBytes.shardOf(p -> p.ndarray("f8", "<", false, new byte[8], 1)))
                .contains("unsupported dtype str 'f8'"));
    }

    @Test
    void refusesAbsurdBinbytes8Length() throws IOException {
        byte[] b = new PickleBytes().proto().op(0x8e).le(-1L, 8).op(0, 0, 0, 0).stop().bytes();
        assertEquals("t: truncated at offset 11: expected 18446744073709551615 bytes of BINBYTES8 payload, only 5 left"
                + " (file has 16 bytes)", reject("t", b));
        byte[] c = new PickleBytes().proto().op(0x8e).le(1L << 40, 8).stop().bytes();
        assertTrue(reject("t", c).contains("expected 1099511627776 bytes of BINBYTES8 payload"));
        // a string length beyond the file is a truncation too, and a long one is refused before any allocation
        assertTrue(reject("t", new PickleBytes().proto().op('X').le(0xFFFF_FFF0L, 4).bytes())
                .contains("truncated at offset 7: expected 4294967280 bytes of string"));
    }

    @Test
    void refusesTruncatedFiles() throws IOException {
        byte[] whole = PickleBytes.shardOf(p -> p.ndarray("f4", "<", false, new byte[400], 100));
        byte[] cut = Arrays.copyOf(whole, whole.length - 150);
        String m = reject("t", cut);
        assertTrue(m.matches("t: truncated at offset \\d+: expected 400 bytes of BINBYTES payload, only \\d+ left.*"), m);
        String n = reject("t", Arrays.copyOf(whole, whole.length - 1));
        assertEquals("t: truncated at offset " + (whole.length - 1) + ": expected an opcode, the pickle has no STOP", n);
        assertTrue(reject("t", new byte[0]).startsWith("t: truncated at offset 0"));
        byte[] frame = new PickleBytes().proto().frame(1000).stop().bytes();
        assertTrue(reject("t", frame).contains("expected 1000 bytes of FRAME"));
    }

    @Test
    void refusesMalformedStructure() throws IOException {
        assertTrue(reject("t", new PickleBytes().proto().op('t').bytes()).contains("no MARK"));
        assertTrue(reject("t", new PickleBytes().proto().op('R').bytes()).contains("stack underflow"));
        assertTrue(reject("t", new PickleBytes().proto().op('h', 7).bytes()).contains("memo index 7 was never stored"));
        assertTrue(reject("t", new PickleBytes().proto().op('N', '.').bytes())
                .contains("the pickle yields None, expected a numpy array or QuantizedWeight8bit"));
        assertTrue(reject("t", new PickleBytes().proto().op('N', '.', 0).bytes()).contains("1 unexpected bytes after STOP"));
        // a list that contains itself must not hang the error message
        byte[] loop = new PickleBytes().proto().op(']').memoize().mark().op('h', 0, 'e', '.').bytes();
        assertTrue(reject("t", loop).contains("yields list"));
    }

    @Test
    void boundsWorkOnHostileInput() throws IOException {
        PickleBytes p = new PickleBytes().proto();
        for (int i = 0; i < 20_000; i++) p.op('N');
        assertTrue(reject("t", p.bytes()).contains("more than 10000 opcodes"));
        byte[] huge = new PickleBytes().proto().op('X').le(5000, 4).raw(new byte[5000]).bytes();
        assertTrue(reject("t", huge).contains("string of 5000 bytes"));
    }

    @Test
    void missingFileIsNamed() {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> PickleShard.read(tmp.resolve("nope")));
        assertTrue(e.getMessage().startsWith("nope: no such file"), e.getMessage());
    }
}
