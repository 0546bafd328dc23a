package grok1j.format;

import grok1j.tensor.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Read-only file mappings for weights: {@code mmap(PROT_READ, MAP_SHARED)} through the FFM API ({@link Libc}), so that the segment is
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

    private static final long PAGE = 4096;

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
        if (Libc.memoryMapping()) {
            MemorySegment m = mmap(path, offset, length, false, arena);
            if (m != null) {
                return m;
            }
        }
        return channel.map(FileChannel.MapMode.READ_ONLY, offset, length, arena);
    }

    /**
     * The first {@code length} bytes of the file {@code channel} reads and writes ({@code path}), shared with the file,
     * unmapped when {@code arena} closes (the bench's synthetic weights, in a deleted temporary file).
     *
     * @throws IOException if the file cannot be mapped
     */
    public static MemorySegment readWrite(Path path, FileChannel channel, long length, Arena arena) throws IOException {
        if (length <= 0) {
            throw new IllegalArgumentException("cannot map " + length + " bytes of " + path);
        }
        if (Libc.memoryMapping()) {
            MemorySegment m = mmap(path, 0, length, true, arena);
            if (m != null) {
                return m;
            }
        }
        return channel.map(FileChannel.MapMode.READ_WRITE, 0, length, arena);
    }

    /** The native mapping, or null if a call refused (the caller falls back to {@link FileChannel#map}). */
    private static MemorySegment mmap(Path path, long offset, long length, boolean writable, Arena arena) {
        long skip = offset % PAGE; // mmap takes page-aligned offsets
        int fd = Libc.open(path.toAbsolutePath().toString(), (writable ? Libc.O_RDWR : Libc.O_RDONLY) | Libc.O_CLOEXEC);
        if (fd < 0) {
            return null;
        }
        try {
            int prot = writable ? Libc.PROT_READ | Libc.PROT_WRITE : Libc.PROT_READ;
            MemorySegment m = Libc.mmap(length + skip, prot, Libc.MAP_SHARED, fd, offset - skip, arena);
            return m == null ? null : writable ? m : m.asSlice(skip, length).asReadOnly();
        } finally {
            Libc.close(fd); // the mapping keeps the file
        }
    }
}
