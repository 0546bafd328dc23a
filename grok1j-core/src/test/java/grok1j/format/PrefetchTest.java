package grok1j.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import grok1j.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrefetchTest {
    @TempDir
    Path dir;

    @Test
    void populatesWholeMappingsAndLeavesTheirBytesAlone() throws Exception {
        // two files, neither a whole number of pages nor of 64 MB chunks; one longer than a chunk
        byte[] small = new byte[4096 * 3 + 123];
        byte[] large = new byte[(64 << 20) + 5000];
        new Random(7).nextBytes(small);
        new Random(8).nextBytes(large);
        Path a = Files.write(dir.resolve("a.bin"), small);
        Path b = Files.write(dir.resolve("b.bin"), large);
        try (Arena arena = Arena.ofShared(); ThreadPool pool = new ThreadPool(2);
             FileChannel ca = FileChannel.open(a, StandardOpenOption.READ);
             FileChannel cb = FileChannel.open(b, StandardOpenOption.READ)) {
            MemorySegment ma = ca.map(FileChannel.MapMode.READ_ONLY, 0, small.length, arena);
            MemorySegment mb = cb.map(FileChannel.MapMode.READ_ONLY, 0, large.length, arena);
            // a heap segment (an empty file's stand-in) is skipped
            MemorySegment heap = MemorySegment.ofArray(new byte[16]);
            assertEquals(small.length + (long) large.length, Prefetch.populate(List.of(ma, heap, mb), pool));
            assertArrayEquals(small, ma.toArray(ValueLayout.JAVA_BYTE));
            assertArrayEquals(large, mb.toArray(ValueLayout.JAVA_BYTE));
            // an unaligned view of a mapping (a tensor inside a file) works too
            MemorySegment view = mb.asSlice(4097, 70_000);
            assertEquals(70_000, Prefetch.populate(List.of(view), pool));
            // what Model.open does in one process: these few MB fit in any machine's MemAvailable
            if (Files.isReadable(Path.of("/proc/meminfo"))) {
                assertEquals(small.length, Prefetch.populateIfItFits(List.of(ma), pool));
            }
        }
    }
}
