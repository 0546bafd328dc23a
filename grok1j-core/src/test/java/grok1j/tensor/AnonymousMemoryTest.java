package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class AnonymousMemoryTest {

    /** A block of an odd size is zero, holds what is written, is 64-byte aligned and is gone with its arena. */
    @Test
    void blockIsZeroWritableAlignedAndFreedWithItsArena() {
        long bytes = (3L << 20) + 12_345; // not a whole number of 2 MB pages
        MemorySegment kept;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = AnonymousMemory.allocate(bytes, arena);
            kept = s;
            assertEquals(bytes, s.byteSize());
            assertEquals(0, s.address() % 64);
            for (long o = 0; o < bytes; o += 4093) {
                assertEquals(0, s.get(ValueLayout.JAVA_BYTE, o), "byte " + o);
            }
            for (long o = 0; o + 8 <= bytes; o += 8) {
                s.set(ValueLayout.JAVA_LONG_UNALIGNED, o, o * 31 + 7);
            }
            s.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 42);
            for (long o = 0; o + 8 <= bytes; o += 8) {
                assertEquals(o * 31 + 7, s.get(ValueLayout.JAVA_LONG_UNALIGNED, o));
            }
            assertEquals(42, s.get(ValueLayout.JAVA_BYTE, bytes - 1));
        }
        assertFalse(kept.scope().isAlive());
        assertThrows(IllegalStateException.class, () -> kept.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void refusesEmptyBlocks() {
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> AnonymousMemory.allocate(0, arena));
        }
    }
}
