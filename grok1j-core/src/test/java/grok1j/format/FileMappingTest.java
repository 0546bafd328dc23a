package grok1j.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.tensor.AnonymousMemory;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileMappingTest {
    @TempDir
    Path tmp;

    /** The file's bytes at any offset (page-aligned or not), read-only, gone with the arena. */
    @Test
    void mapsTheFilesBytesReadOnly() throws IOException {
        byte[] bytes = new byte[3 * 4096 + 123];
        new Random(7).nextBytes(bytes);
        Path f = Files.write(tmp.resolve("weights.bin"), bytes);
        MemorySegment kept;
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            for (long[] range : new long[][] {{0, bytes.length}, {4096, 4096}, {5000, 7000}, {bytes.length - 1, 1}}) {
                MemorySegment m = FileMapping.readOnly(f, ch, range[0], range[1], arena);
                assertEquals(range[1], m.byteSize());
                for (int i = 0; i < range[1]; i++) {
                    assertEquals(bytes[(int) range[0] + i], m.get(ValueLayout.JAVA_BYTE, i), "byte " + (range[0] + i));
                }
                assertTrue(m.isReadOnly());
                assertThrows(IllegalArgumentException.class, () -> m.set(ValueLayout.JAVA_BYTE, 0, (byte) 1), "read-only");
            }
            kept = FileMapping.readOnly(f, ch, 0, bytes.length, arena);
        }
        assertThrows(IllegalStateException.class, () -> kept.get(ValueLayout.JAVA_BYTE, 0));
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> FileMapping.readOnly(f, ch, 0, 0, arena));
        }
    }

    /** A read-write mapping is shared with the file: what is written through it is what the file then reads. */
    @Test
    void readWriteMappingsWriteTheFile() throws IOException {
        Path f = tmp.resolve("synthetic.bin");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE); Arena arena = Arena.ofConfined()) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[1]), 3 * 4096 - 1);
            MemorySegment m = FileMapping.readWrite(f, ch, 3 * 4096, arena);
            assertEquals(3 * 4096, m.byteSize());
            m.set(ValueLayout.JAVA_INT_UNALIGNED, 5000, 0x12345678);
        }
        byte[] back = Files.readAllBytes(f);
        assertEquals(3 * 4096, back.length);
        assertEquals(0x12345678, java.nio.ByteBuffer.wrap(back, 5000, 4).order(java.nio.ByteOrder.nativeOrder()).getInt());
        assertEquals(0, back[0]);
    }

    /**
     * The point of the class: on Linux a file's mapping is a segment of the same class as the repacked weights'
     * memory, so the kernels' loads see one class (two made every load a type switch, ~1.8x slower decode).
     */
    @Test
    void mappingsAreOfTheSameClassAsAnonymousMemory() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty("os.name", "").startsWith("Linux"));
        Path f = Files.write(tmp.resolve("w.bin"), new byte[10_000]);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            MemorySegment mapped = FileMapping.readOnly(f, ch, 0, 10_000, arena);
            MemorySegment copy = AnonymousMemory.allocate(10_000, arena);
            assertEquals(copy.getClass(), mapped.getClass());
            assertTrue(!mapped.isMapped(), "not a FileChannel mapping");
        }
    }
}
