package grok1j.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;

/**
 * The copy at open shared by the row-interleaved decode layouts ({@link InterleavedQ8_0Matrix},
 * {@link InterleavedQ6_KMatrix}, {@link InterleavedQ4_KMatrix}): a GGUF matrix's stored rows, {@value #GROUP} at a
 * time, through heap arrays into a group of the layout's own.
 */
final class InterleavedGroups {
    private InterleavedGroups() {}

    /** Stored rows per group. */
    static final int GROUP = InterleavedPrefill.GROUP;

    /** A layout's rewrite of one group. */
    interface Writer {
        /**
         * Writes the group whose {@value #GROUP} file rows are {@code rows} ({@code rowBytes} each, one after the other:
         * the matrix's {@code K} inputs of each, also in a view of some input rows)
         * into {@code out} (one group of the layout, every byte written), with {@code scratch} to use as it likes.
         */
        void write(byte[] rows, int rowBytes, byte[] scratch, byte[] out);
    }

    /**
     * A new segment of {@code m.outputDim() / GROUP} groups of {@code groupBytes} each, in memory of {@code arena},
     * written group by group by {@code writer} on the common fork-join pool's threads when both segments may be used
     * from them. The arrays are reused per thread (a fresh 6.7 MB pair per group made opening the 2-layer Q8_0 file
     * 85 s instead of 60), and the writers read them through array views, not heap segments: C2 inlines the kernels'
     * segment accesses for the segment classes the JDK's shared access code has seen, and a third class here made
     * every kernel's scalar loads a type switch (see {@code FileMapping}).
     */
    static MemorySegment copy(GgufMatrix m, Arena arena, long groupBytes, int scratchBytes, Writer writer) {
        MemorySegment src = m.data();
        long rowBytes = m.rowBytes(); // the stride: a view of some input rows reads part of each stored row
        int rb = (int) m.type().bytesFor(m.inputDim());
        // written once, group by group, by the threads below: no zeroing pass first (AnonymousMemory)
        MemorySegment dst = AnonymousMemory.allocate(groupBytes * (m.outputDim() / GROUP), arena);
        IntStream groups = IntStream.range(0, m.outputDim() / GROUP);
        Thread other = new Thread(() -> { });
        if (src.isAccessibleBy(other) && dst.isAccessibleBy(other)) {
            groups = groups.parallel(); // a confined segment (a test's) is copied on its own thread
        }
        ThreadLocal<byte[][]> buffers = ThreadLocal.withInitial(
                () -> new byte[][] {new byte[rb * GROUP], new byte[scratchBytes], new byte[(int) groupBytes]});
        groups.forEach(g -> {
            byte[][] buf = buffers.get();
            for (int r = 0; r < GROUP; r++) {
                MemorySegment.copy(src, ValueLayout.JAVA_BYTE, (long) (g * GROUP + r) * rowBytes, buf[0], r * rb, rb);
            }
            writer.write(buf[0], rb, buf[1], buf[2]);
            MemorySegment.copy(buf[2], 0, dst, ValueLayout.JAVA_BYTE, g * groupBytes, buf[2].length);
        });
        return dst;
    }
}
