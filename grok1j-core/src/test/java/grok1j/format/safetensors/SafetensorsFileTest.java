package grok1j.format.safetensors;

import static grok1j.format.safetensors.SafetensorsBytes.entry;
import static grok1j.format.safetensors.SafetensorsBytes.file;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.format.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safetensors validations of grok-2 spec §3.3, each a one-line error naming the file and tensor. */
class SafetensorsFileTest {
    @TempDir
    Path dir;

    private SafetensorsFile open(byte[] bytes) throws IOException {
        Path p = dir.resolve("t.safetensors");
        Files.write(p, bytes);
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(p, arena);
            f.tensors().forEach(t -> t.data().byteSize()); // views are valid inside the arena
            return f;
        }
    }

    private String error(byte[] bytes, String... mustContain) {
        Path p = dir.resolve("t.safetensors");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> open(bytes));
        String m = e.getMessage();
        assertEquals(1, m.lines().count(), m);
        assertTrue(m.startsWith(p + ": "), m);
        for (String s : mustContain) {
            assertTrue(m.contains(s), "'" + s + "' not in: " + m);
        }
        return m;
    }

    private static String header(String... entries) {
        return "{\"__metadata__\": {\"format\": \"pt\"}, " + String.join(", ", entries) + "}";
    }

    @Test
    void readsTensorsAsViewsInDataOrder() throws IOException {
        Path p = dir.resolve("ok.safetensors");
        String h = header(entry("b", "BF16", "[2, 3]", 8, 20), entry("a", "F32", "[2]", 0, 8)) + "    ";
        Files.write(p, file(h, 20));
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(p, arena);
            assertEquals(2, f.tensors().size());
            assertEquals("a", f.tensors().get(0).name());
            SafetensorsTensor b = f.tensor("b");
            assertEquals(SafetensorsDtype.BF16, b.dtype());
            assertArrayEquals(new long[] {2, 3}, b.shape());
            assertEquals(8 + h.length() + 8, b.fileOffset());
            assertEquals(12, b.data().byteSize());
            assertEquals(6, b.elementCount());
            // data byte i is i & 0xFF: element 0 of b is the bf16 bits 0x0908
            assertEquals(Float.intBitsToFloat(0x0908 << 16), b.getFloat(0));
            assertEquals("pt", f.metadata().get("format"));
        }
    }

    @Test
    void scalarAndEmptyTensors() throws IOException {
        SafetensorsFile f = open(file(header(entry("s", "F32", "[]", 0, 4), entry("e", "BF16", "[0, 5]", 4, 4)), 4));
        assertEquals(1, f.tensor("s").elementCount());
        assertEquals(0, f.tensor("e").data().byteSize());
    }

    @Test
    void truncatedFile() {
        error(new byte[5], "truncated: 5 bytes");
        error(new byte[0], "truncated: 0 bytes");
    }

    @Test
    void headerLengthBeyondTheFileOrTheLimit() {
        byte[] f = file(header(entry("a", "F32", "[1]", 0, 4)), 4);
        error(Arrays.copyOf(f, 30), "header length", "beyond the end of the file (30 bytes)");
        byte[] huge = f.clone();
        huge[3] = 0x7F; // N = 0x7F000000 + ...
        error(huge, "beyond the limit of 100000000");
        byte[] negative = f.clone();
        negative[7] = (byte) 0x80;
        error(negative, "beyond the limit");
    }

    @Test
    void headerMustBeUtf8JsonObject() {
        error(file(new byte[] {'{', '"', (byte) 0xFF, '"', ':', '1', '}'}, 0), "not valid UTF-8");
        error(file("[1, 2]", 0), "does not start with '{'");
        error(file(" {}", 0), "does not start with '{'");
        error(file("{\"a\": ", 0), "invalid JSON");
        error(file("{\"a\": 1}", 0), "tensor a: expected an object with exactly");
        error(file("{\"__metadata__\": {\"format\": 1}}", 0), "__metadata__.format must be a string");
    }

    @Test
    void duplicateNames() {
        error(file(header(entry("a", "F32", "[1]", 0, 4), entry("a", "F32", "[1]", 4, 8)), 8),
                "duplicate key \"a\"");
    }

    @Test
    void entryFields() {
        error(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], \"x\": 1}}", 4),
                "tensor a: expected an object with exactly");
        error(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4),
                "tensor a: shape[0] is -1");
        error(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4),
                "tensor a: shape[0] is 1.5");
        error(file("{\"a\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4),
                "tensor a: shape must be an array");
        error(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4),
                "tensor a: data_offsets must be an array of 2");
        error(file("{\"a\": {\"dtype\": 3, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4), "tensor a: dtype must be a string");
        error(file(header(entry("a", "F32", "[1]", 4, 0)), 4), "tensor a: data_offsets [4, 0] end before they begin");
    }

    @Test
    void unknownDtype() {
        error(file(header(entry("w", "Q4_0", "[2]", 0, 4)), 4), "tensor w: unknown dtype \"Q4_0\"");
    }

    @Test
    void shapeTimesDtypeMustEqualTheRange() {
        error(file(header(entry("w", "BF16", "[2, 3]", 0, 8)), 8), "tensor w: shape [2, 3] x BF16 is 12 bytes but data_offsets [0, 8] hold 8");
        error(file(header(entry("w", "F64", "[999999999999999999, 999999999999999999]", 0, 8)), 8), "tensor w: shape", "too large");
    }

    @Test
    void rangesInsideTheFileAndTilingTheData() {
        error(file(header(entry("w", "F32", "[4]", 0, 16)), 8), "tensor w: data_offsets [0, 16]", "beyond the end of the file");
        error(file(header(entry("a", "F32", "[2]", 0, 8), entry("b", "F32", "[2]", 4, 12)), 12),
                "tensor b: its data", "overlaps tensor a");
        error(file(header(entry("a", "F32", "[1]", 0, 4), entry("b", "F32", "[1]", 8, 12)), 12),
                "tensor b: a gap of 4 unused bytes");
        error(file(header(entry("a", "F32", "[1]", 4, 8)), 8), "tensor a: a gap of 4 unused bytes");
        error(file(header(entry("a", "F32", "[1]", 0, 4)), 6), "2 trailing bytes");
    }
}
