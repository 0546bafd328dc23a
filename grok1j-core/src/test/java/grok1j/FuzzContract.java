package grok1j;

import java.lang.management.ManagementFactory;
import java.util.Arrays;

/**
 * The contract every parser of untrusted bytes keeps, checked by the {@code *FuzzTest} targets: it either succeeds
 * or throws one of its documented exceptions with a one-line message; never another exception (an
 * {@link IndexOutOfBoundsException}, a {@link NullPointerException}, an {@link OutOfMemoryError}...), and never
 * allocates far more than the input's size (a declared length larger than the input must be refused before anything
 * is sized from it). Hangs are caught by the fuzz tests' {@code @Timeout}.
 */
public final class FuzzContract {
    /** Heap a parse may allocate whatever its input: its tables, buffers and the exception. */
    static final long BASE_ALLOCATION = 16L << 20;
    /** Heap a parse may allocate per input byte (objects made from what the input holds). */
    static final long PER_BYTE = 256;

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private FuzzContract() {}

    /** A parse of the input. */
    @FunctionalInterface
    public interface Parse {
        void run() throws Exception;
    }

    /**
     * Runs {@code parse} on an input of {@code inputBytes} bytes and fails with an {@link AssertionError} if it
     * breaks the contract; {@code documented} are the exception types its Javadoc promises.
     */
    @SafeVarargs
    public static void check(long inputBytes, Parse parse, Class<? extends Exception>... documented) {
        long limit = BASE_ALLOCATION + PER_BYTE * inputBytes;
        long allocated = run(parse, documented);
        if (allocated > limit) {
            // the first parse of a run also pays for class loading and caches: only a repeat counts
            allocated = run(parse, documented);
            if (allocated > limit) {
                throw new AssertionError("allocated " + allocated + " bytes for an input of " + inputBytes
                        + " bytes (limit " + limit + ")");
            }
        }
    }

    /** Runs the parse, checks how it ended, and returns the bytes this thread allocated meanwhile. */
    @SafeVarargs
    private static long run(Parse parse, Class<? extends Exception>... documented) {
        long thread = Thread.currentThread().threadId();
        long before = THREADS.getThreadAllocatedBytes(thread);
        try {
            parse.run();
        } catch (Exception e) {
            if (Arrays.stream(documented).noneMatch(c -> c.isInstance(e))) {
                throw new AssertionError("undocumented " + e.getClass().getName() + ": " + e.getMessage(), e);
            }
            String m = e.getMessage();
            if (m == null || m.isBlank() || m.indexOf('\n') >= 0 || m.indexOf('\r') >= 0) {
                throw new AssertionError(e.getClass().getSimpleName() + " without a one-line message: " + m, e);
            }
        }
        return THREADS.getThreadAllocatedBytes(thread) - before;
    }
}
