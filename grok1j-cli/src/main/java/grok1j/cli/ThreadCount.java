package grok1j.cli;

/**
 * Checks {@code --threads}: the default is the core count; more threads than cores is refused unless
 * {@code --oversubscribe-threads} is given, because the kernels hand each thread an equal share and wait for the
 * last one, so a step runs at the speed of the most descheduled thread (16 threads on 2 cores: 6x slower, 1000
 * threads: no two tokens in 13 minutes).
 */
final class ThreadCount {
    /** Upper bound even with {@code --oversubscribe-threads}. */
    static final int MAX = 1024;

    private ThreadCount() {}

    /**
     * The thread count to use.
     *
     * @param requested     {@code --threads}, or null for the core count
     * @param oversubscribe {@code --oversubscribe-threads}
     * @param cores         the machine's core count ({@link Runtime#availableProcessors()})
     * @throws IllegalArgumentException if out of range, or above {@code cores} without {@code oversubscribe}
     */
    static int resolve(Integer requested, boolean oversubscribe, int cores) {
        if (requested == null) {
            return cores;
        }
        int t = requested;
        if (t < 1 || t > MAX) {
            throw new IllegalArgumentException("--threads must be between 1 and " + MAX + ", got " + t);
        }
        if (t > cores && !oversubscribe) {
            throw new IllegalArgumentException("--threads " + t + " is more than the " + cores + " cores of this machine"
                    + " (each step waits for its slowest thread); add --oversubscribe-threads to run anyway");
        }
        return t;
    }

    static int resolve(Integer requested, boolean oversubscribe) {
        return resolve(requested, oversubscribe, Runtime.getRuntime().availableProcessors());
    }
}
