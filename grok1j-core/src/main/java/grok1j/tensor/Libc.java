package grok1j.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The few C library calls the weights' memory needs ({@code open}, {@code close}, {@code mmap}, {@code munmap},
 * {@code madvise}), looked up once through the FFM API. Each is available on Linux only; elsewhere, or where the
 * lookup fails, {@link #memoryMapping()} and {@link #madviseAvailable()} say false and the callers fall back to what
 * the JDK offers.
 */
public final class Libc {
    private Libc() {}

    public static final int PROT_READ = 0x1;
    public static final int PROT_WRITE = 0x2;
    public static final int MAP_SHARED = 0x01;
    public static final int MAP_PRIVATE = 0x02;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int O_RDONLY = 0;
    public static final int O_RDWR = 2;
    public static final int O_CLOEXEC = 0x80000;

    private static final MethodHandle OPEN;
    private static final MethodHandle CLOSE;
    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;
    private static final MethodHandle MADVISE;

    static {
        MethodHandle open = null, close = null, mmap = null, munmap = null, madvise = null;
        if (System.getProperty("os.name", "").startsWith("Linux")) {
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
                madvise = lookup.find("madvise").map(f -> linker.downcallHandle(f, FunctionDescriptor.of(ValueLayout.JAVA_INT,
                        ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT))).orElse(null);
            } catch (RuntimeException | LinkageError e) {
                // no native access: the callers' fallbacks
            }
        }
        boolean mapping = open != null && close != null && mmap != null && munmap != null;
        OPEN = mapping ? open : null;
        CLOSE = mapping ? close : null;
        MMAP = mapping ? mmap : null;
        MUNMAP = mapping ? munmap : null;
        MADVISE = madvise;
    }

    /** Whether {@link #open}, {@link #close}, {@link #mmap} and {@link #munmap} can be called. */
    public static boolean memoryMapping() {
        return MMAP != null;
    }

    /** Whether {@link #madvise} can be called. */
    public static boolean madviseAvailable() {
        return MADVISE != null;
    }

    /** {@code open(path, flags)}: a file descriptor, or -1. */
    public static int open(String path, int flags) {
        try (Arena name = Arena.ofConfined()) {
            return (int) OPEN.invokeExact(name.allocateFrom(path), flags, 0);
        } catch (Throwable e) {
            return -1;
        }
    }

    /** {@code close(fd)}; a failure is ignored (nothing was written through it). */
    public static void close(int fd) {
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable e) {
            // nothing to do
        }
    }

    /**
     * {@code mmap(NULL, length, prot, flags, fd, offset)} as a segment of {@code length} bytes in {@code arena},
     * unmapped when it closes; null if the call fails.
     */
    public static MemorySegment mmap(long length, int prot, int flags, int fd, long offset, Arena arena) {
        try {
            MemorySegment p = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, length, prot, flags, fd, offset);
            if (p.address() == -1L) {
                return null;
            }
            // (the cleanup gets a zero-length segment at the same address: the length is captured here)
            return p.reinterpret(length, arena, block -> munmap(block, length));
        } catch (Throwable e) {
            return null;
        }
    }

    private static void munmap(MemorySegment block, long length) {
        try {
            int ignored = (int) MUNMAP.invokeExact(block, length);
        } catch (Throwable e) {
            // the memory is being released; nothing useful to do with a failure here
        }
    }

    /** {@code madvise(address, length, advice)}: 0, or -1 if refused or not available. */
    public static int madvise(long address, long length, int advice) {
        try {
            return (int) MADVISE.invokeExact(MemorySegment.ofAddress(address), length, advice);
        } catch (Throwable e) {
            return -1;
        }
    }
}
