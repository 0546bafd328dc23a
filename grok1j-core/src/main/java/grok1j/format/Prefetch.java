package grok1j.format;

import grok1j.tensor.Libc;
import grok1j.tensor.ThreadPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Reads memory-mapped weights into this process's page tables before they are used. A mapped file is otherwise
 * faulted in page by page by the first forward passes: in a Mixture-of-Experts model each expert's first token pays
 * for its pages (on a 2-layer Grok-1-shaped GGUF file the first decode steps read the experts' weights at a third of
 * the speed of later ones). llama.cpp maps with {@code MAP_POPULATE} for the same reason.
 *
 * <p>On Linux 5.14+ this is {@code madvise(MADV_POPULATE_READ)} over page-aligned chunks, split across the pool's
 * threads (called through the FFM API); elsewhere, or if the call is refused, one byte per page is read. The data is
 * not changed and nothing is pinned: the kernel may still evict the pages later under memory pressure.
 */
public final class Prefetch {
    private Prefetch() {}

    private static final long PAGE = 4096;
    /** Bytes per unit of work: large enough to keep the system call's cost small, small enough to balance threads. */
    private static final long CHUNK = 64L << 20;
    private static final int MADV_POPULATE_READ = 22;
    private static final AtomicBoolean REFUSED = new AtomicBoolean(!Libc.madviseAvailable());

    /**
     * Populates every mapping of {@code segments} (each a whole mapped file), all threads of {@code pool} at once.
     *
     * @return the bytes populated
     */
    public static long populate(List<MemorySegment> segments, ThreadPool pool) {
        long total = 0;
        for (MemorySegment seg : segments) {
            if (!seg.isNative() || seg.byteSize() == 0) {
                continue;
            }
            long chunks = (seg.byteSize() + CHUNK - 1) / CHUNK;
            int parts = (int) Math.min(chunks, 4L * pool.threads());
            pool.run((part, n) -> {
                for (long c = part; c < chunks; c += n) {
                    populate(seg, c * CHUNK, Math.min(seg.byteSize(), (c + 1) * CHUNK));
                }
            }, parts);
            total += seg.byteSize();
        }
        return total;
    }

    /**
     * {@link #populate} when the mappings fit in the memory the kernel reports available ({@code MemAvailable} of
     * {@code /proc/meminfo}, page cache included), else nothing: a model larger than RAM is read as it is used.
     *
     * @return the bytes populated, 0 if skipped (too large, or no {@code /proc/meminfo})
     */
    public static long populateIfItFits(List<MemorySegment> segments, ThreadPool pool) {
        return bytesThatFit(segments) > 0 ? populate(segments, pool) : 0;
    }

    /** The bytes {@link #populateIfItFits} would read now: the mappings' size if they fit, else 0. */
    public static long bytesThatFit(List<MemorySegment> segments) {
        long total = segments.stream().filter(MemorySegment::isNative).mapToLong(MemorySegment::byteSize).sum();
        return total > 0 && total <= memAvailable() ? total : 0;
    }

    private static final int MADV_DONTNEED = 4;

    /**
     * Drops the pages of {@code mapped} (part of a read-only file mapping) from this process's page tables
     * ({@code madvise(MADV_DONTNEED)}, whole pages inside it only): for file ranges no longer read, such as weights
     * copied into another layout. The data stays in the file and the page cache, which may now reclaim it; reading
     * the range again faults it back in. Does nothing where {@code madvise} is unavailable.
     */
    public static void release(MemorySegment mapped) {
        if (!Libc.madviseAvailable() || !mapped.isNative()) {
            return;
        }
        long start = (mapped.address() + PAGE - 1) & -PAGE;
        long end = (mapped.address() + mapped.byteSize()) & -PAGE;
        if (end > start) {
            Libc.madvise(start, end - start, MADV_DONTNEED); // a hint only
        }
    }

    /** MemAvailable in bytes, or 0 where {@code /proc/meminfo} is missing or unreadable. */
    public static long memAvailable() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux, or an unexpected format: treat as unknown
        }
        return 0;
    }

    /** Bytes {@code [from, to)} of {@code seg}. */
    private static void populate(MemorySegment seg, long from, long to) {
        long address = seg.address() + from;
        long start = address & -PAGE; // madvise wants a page-aligned start; the page holds bytes of this mapping
        if (start < seg.address()) {
            start += PAGE;
        }
        if (!REFUSED.get() && start < seg.address() + to) {
            if (Libc.madvise(start, seg.address() + to - start, MADV_POPULATE_READ) == 0) {
                if (start > address) {
                    seg.get(ValueLayout.JAVA_BYTE, from); // the partial page before the aligned start
                }
                return;
            }
            REFUSED.set(true); // an older kernel (EINVAL): do not ask again; touch the pages instead
        }
        byte sink = 0;
        for (long o = from; o < to; o += PAGE) {
            sink ^= seg.get(ValueLayout.JAVA_BYTE, o);
        }
        if (sink == 42) {
            Thread.onSpinWait(); // keeps the reads from being removed; harmless either way
        }
    }
}
