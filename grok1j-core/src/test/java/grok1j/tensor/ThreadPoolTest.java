package grok1j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/** Every part of every job runs exactly once, for any thread and part count; failures reach the caller. */
class ThreadPoolTest {

    @Test
    void everyPartOnce() {
        for (int threads = 1; threads <= 4; threads++) {
            try (ThreadPool pool = new ThreadPool(threads)) {
                for (int parts : new int[] {1, 2, 3, 7, 16}) {
                    for (int round = 0; round < 200; round++) {
                        AtomicIntegerArray hits = new AtomicIntegerArray(parts);
                        pool.run((p, n) -> {
                            assertEquals(parts, n);
                            hits.incrementAndGet(p);
                        }, parts);
                        for (int p = 0; p < parts; p++) {
                            assertEquals(1, hits.get(p), threads + " threads, " + parts + " parts, part " + p);
                        }
                    }
                }
            }
        }
    }

    @Test
    void failureInAWorkerPartIsRethrown() {
        try (ThreadPool pool = new ThreadPool(2)) {
            for (int round = 0; round < 20; round++) {
                assertThrows(IllegalStateException.class, () -> pool.run((p, n) -> {
                    if (p == 3) {
                        throw new IllegalStateException("part 3");
                    }
                }, 4));
            }
            AtomicIntegerArray hits = new AtomicIntegerArray(2);
            pool.run((p, n) -> hits.incrementAndGet(p));
            assertEquals(1, hits.get(0));
            assertEquals(1, hits.get(1));
        }
    }
}
