package grok1j.tensor;

import java.lang.management.ManagementFactory;

/**
 * Warm-up rounds that end once C2 runs what they call. The Vector API is intrinsified by C2 only: in the interpreter
 * and in C1 code every vector operation falls back to Java and allocates its lanes, so a round that allocates nothing
 * on this thread ran C2 code with its vectors in registers. A fixed number of rounds ended before C2 had compiled a
 * kernel when its compile queue was long (at start-up many kernels queue at once): C1 then took the method at its
 * tier without full profiling, and the first long prompt compiled the kernel's loop on the stack (an OSR compile) from
 * that thin profile. In one bench run in three, such an OSR compile of {@link AttentionKernels#dots3} boxed its
 * vectors (the JDK's shared vector code had seen 256-bit and 512-bit float vectors): 4 GB of garbage in a 512-token
 * prefill, at 0.37-0.55 of the FMA peak instead of 0.67-0.91.
 */
final class WarmUp {
    private WarmUp() {}

    /** Calls per round: enough to trigger compilation early, few enough to check often. */
    private static final int CALLS = 200;

    /** Whether this JVM compiles with C2 (not {@code -Xint}, not {@code -XX:TieredStopAtLevel} below 4). */
    private static final boolean C2 = ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
            .noneMatch(a -> a.equals("-Xint") || a.startsWith("-XX:TieredStopAtLevel=") && !a.equals("-XX:TieredStopAtLevel=4"));

    /**
     * Runs {@code call} in rounds of {@value #CALLS} until a round allocates nothing on this thread, at least
     * {@code minCalls} times in all, and for at most {@code maxMillis} (a JVM without C2, or one that cannot count a
     * thread's allocations, stops at {@code minCalls}).
     *
     * @return whether a round allocated nothing
     */
    static boolean untilCompiled(Runnable call, int minCalls, long maxMillis) {
        com.sun.management.ThreadMXBean threads = C2 && ManagementFactory.getThreadMXBean()
                instanceof com.sun.management.ThreadMXBean t && t.isThreadAllocatedMemorySupported()
                && t.isThreadAllocatedMemoryEnabled() ? t : null;
        long end = System.nanoTime() + maxMillis * 1_000_000;
        int calls = 0;
        while (true) {
            long before = threads == null ? 0 : threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < CALLS; i++) {
                call.run();
            }
            calls += CALLS;
            boolean clean = threads != null && threads.getCurrentThreadAllocatedBytes() == before;
            if (calls >= minCalls && (clean || threads == null) || System.nanoTime() > end) {
                return clean;
            }
        }
    }
}
