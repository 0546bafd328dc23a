package grok1j.format;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Read-only file mappings for weights: {@code mmap(PROT_READ, MAP_SHARED)} through the FFM API, so that the segment is
 * of the same class as every other weight's memory (the copies of {@link grok1j.tensor.AnonymousMemory}).
 *
 * <p>Why not {@link FileChannel#map}: its segments are of another class than native memory's, and C2 inlines a
 * kernel's segment accesses with the classes the JDK's shared load methods have seen. A process that read weights from
 * both kinds (a GGUF file's mapping and its repacked Q8_0 experts) ran every kernel with a type switch per load: the
 * repacked experts of a layer took 43-44 ms against 23-24 ms when only native segments had been read (Zen 5, 2
 * threads, the 2-layer Grok-1-shaped Q8_0 file, same process otherwise).
 *
 * <p>Where the native calls are not available (not Linux) or refuse, the file is mapped by {@link FileChannel#map}.
 * A fault on a page of a file truncated after mapping is reported as for a {@code FileChannel} mapping (the JVM turns
 * the {@code SIGBUS} of an unsafe access into an {@link InternalError}).
 */
public final class FileMapping {
    private FileMapping() {}

    private static final int O_RDONLY_CLOEXEC = 0x80000;
    private static final int PROT_READ = 0x1;
    private static final int MAP_SHARED = 0x01;
    private static final long PAGE = 4096;
    private static final MethodHandle OPEN;
    private static final MethodHandle CLOSE;
    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;

    static {
        MethodHandle open = null, close = null, mmap = null, munmap = null;
        try {
            Linker linker = Linker.nativeLinker();
            var lookup = linker.defaultLookup();
            // open(const char *path, int flags, ...): the mode is a variadic argument (0, unused without O_CREAT)
            open = lookup.find("open").map(f -> linker.downcallHandle(f, FunctionDescriptor.of(ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), Linker.Option.firstVariadicArg(2)))
                    .orElse(null);
            close = lookup.find("close").map(f -> linker.downcallHandle(f,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT))).orElse(null);
            mmap = lookup.find("mmap").map(f -> linker.downcallHandle(f, FunctionDescriptor.of(ValueLayout.ADDRESS,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG))).orElse(null);
            munmap = lookup.find("munmap").map(f -> linker.downcallHandle(f,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG))).orElse(null);
        } catch (RuntimeException | LinkageError e) {
            // no native access: FileChannel.map
        }
        boolean usable = System.getProperty("os.name", "").startsWith("Linux") && open != null && close != null
                && mmap != null && munmap != null;
        OPEN = usable ? open : null;
        CLOSE = close;
        MMAP = usable ? mmap : null;
        MUNMAP = munmap;
    }

    /**
     * Bytes {@code [offset, offset + length)} of the file {@code channel} reads ({@code path}), read-only, unmapped
     * when {@code arena} closes.
     *
     * @param length positive, and within the file
     * @throws IOException if the file cannot be mapped
     */
    public static MemorySegment readOnly(Path path, FileChannel channel, long offset, long length, Arena arena)
            throws IOException {
        if (length <= 0 || offset < 0) {
            throw new IllegalArgumentException("cannot map " + length + " bytes at " + offset + " of " + path);
        }
        if (MMAP != null) {
            MemorySegment m = mmap(path, offset, length, arena);
            if (m != null) {
                return m;
            }
        }
        return channel.map(FileChannel.MapMode.READ_ONLY, offset, length, arena);
    }

    /** The native mapping, or null if a call refused (the caller falls back to {@link FileChannel#map}). */
    private static MemorySegment mmap(Path path, long offset, long length, Arena arena) {
        long skip = offset % PAGE; // mmap takes page-aligned offsets
        long mapped = length + skip;
        try (Arena name = Arena.ofConfined()) {
            int fd = (int) OPEN.invokeExact(name.allocateFrom(path.toAbsolutePath().toString()), O_RDONLY_CLOEXEC, 0);
            if (fd < 0) {
                return null;
            }
            try {
                MemorySegment p = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, mapped, PROT_READ, MAP_SHARED, fd,
                        offset - skip);
                if (p.address() == -1L) {
                    return null;
                }
                // (the cleanup gets a zero-length segment at the same address: the length is captured here)
                return p.reinterpret(mapped, arena, block -> unmap(block, mapped)).asSlice(skip, length).asReadOnly();
            } finally {
                int ignored = (int) CLOSE.invokeExact(fd); // the mapping keeps the file
            }
        } catch (Throwable e) {
            return null;
        }
    }

    private static void unmap(MemorySegment block, long length) {
        try {
            int ignored = (int) MUNMAP.invokeExact(block, length);
        } catch (Throwable e) {
            // the model is being released; nothing useful to do with a failure here
        }
    }
}
