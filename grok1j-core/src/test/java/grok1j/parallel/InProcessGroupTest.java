package grok1j.parallel;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InProcessGroupTest {

    /** Runs {@code body} as every rank of a group of {@code size}, each on its own thread; returns their results. */
    private static <T> List<T> onRanks(InProcessGroup group, Function<Communicator, T> body) throws Exception {
        try (ExecutorService pool = Executors.newFixedThreadPool(group.size())) {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < group.size(); r++) {
                Communicator c = group.rank(r);
                futures.add(pool.submit((Callable<T>) () -> body.apply(c)));
            }
            List<T> results = new ArrayList<>();
            for (Future<T> f : futures) {
                results.add(f.get());
            }
            return results;
        }
    }

    @Test
    void allReduceSumsInRankOrderBitIdenticallyOnEveryRank() throws Exception {
        int size = 3;
        int count = 50;
        List<float[]> results = onRanks(new InProcessGroup(size), c -> {
            float[] data = new float[count + 2];
            for (int i = 0; i < count; i++) {
                data[1 + i] = MpiCollectivesMain.partial(c.rank(), i);
            }
            c.allReduceSum(data, 1, count);
            return data;
        });
        float[] expected = new float[count + 2];
        boolean orderMatters = false;
        for (int i = 0; i < count; i++) {
            float forward = MpiCollectivesMain.partial(0, i) + MpiCollectivesMain.partial(1, i);
            forward += MpiCollectivesMain.partial(2, i);
            float backward = MpiCollectivesMain.partial(2, i) + MpiCollectivesMain.partial(1, i);
            backward += MpiCollectivesMain.partial(0, i);
            expected[1 + i] = forward;
            orderMatters |= forward != backward;
        }
        assertTrue(orderMatters, "the test values must make the summation order visible");
        for (float[] r : results) {
            assertArrayEquals(expected, r); // bit-identical (assertArrayEquals on floats compares exactly)
        }
    }

    @Test
    void broadcastCopiesTheRootsRange() throws Exception {
        List<String> results = onRanks(new InProcessGroup(3), c -> {
            int[] ints = new int[5];
            byte[] bytes = new byte[5];
            if (c.rank() == 2) {
                ints = new int[]{9, 1, 2, 3, 9};
                bytes = new byte[]{9, 4, 5, 6, 9};
            }
            c.broadcast(ints, 1, 3, 2);
            c.broadcast(bytes, 1, 3, 2);
            return java.util.Arrays.toString(ints) + java.util.Arrays.toString(bytes);
        });
        assertEquals(List.of("[0, 1, 2, 3, 0][0, 4, 5, 6, 0]", "[0, 1, 2, 3, 0][0, 4, 5, 6, 0]",
                "[9, 1, 2, 3, 9][9, 4, 5, 6, 9]"), results);
    }

    @Test
    void gatherPutsEachRanksSliceInRankOrderOnTheRoot() throws Exception {
        List<String> results = onRanks(new InProcessGroup(3), c -> {
            float[] recv = c.rank() == 1 ? new float[7] : null;
            c.gather(new float[]{-1, c.rank() * 10, c.rank() * 10 + 1}, 1, 2, recv, 1, 1);
            byte[] recvBytes = c.rank() == 1 ? new byte[3] : null;
            c.gather(new byte[]{(byte) ('a' + c.rank())}, 0, 1, recvBytes, 0, 1);
            return recv == null ? "-" : java.util.Arrays.toString(recv) + new String(recvBytes);
        });
        assertEquals(List.of("-", "[0.0, 0.0, 1.0, 10.0, 11.0, 20.0, 21.0]abc", "-"), results);
    }

    @Test
    void barrierWaitsForEveryRank() throws Exception {
        java.util.concurrent.atomic.AtomicInteger arrived = new java.util.concurrent.atomic.AtomicInteger();
        List<Integer> seen = onRanks(new InProcessGroup(3), c -> {
            arrived.incrementAndGet();
            c.barrier();
            return arrived.get();
        });
        assertEquals(List.of(3, 3, 3), seen);
    }

    @Test
    void failUnblocksWaitingRanksNamingTheFailedRank() throws Exception {
        InProcessGroup group = new InProcessGroup(3);
        try (ExecutorService pool = Executors.newFixedThreadPool(2)) {
            Future<?> r0 = pool.submit(() -> group.rank(0).barrier());
            Future<?> r1 = pool.submit(() -> group.rank(1).allReduceSum(new float[4], 0, 4));
            Thread.sleep(200); // both are waiting for rank 2, which fails instead of arriving
            group.fail(2, "cannot map its slice");
            for (Future<?> f : List.of(r0, r1)) {
                ExecutionException e = assertThrows(ExecutionException.class, f::get);
                CommunicatorException ce = assertInstanceOf(CommunicatorException.class, e.getCause());
                assertTrue(ce.getMessage().startsWith("rank 2 on "), ce.getMessage());
                assertTrue(ce.getMessage().endsWith(" failed: cannot map its slice"), ce.getMessage());
            }
        }
        CommunicatorException later = assertThrows(CommunicatorException.class, () -> group.rank(0).barrier());
        assertTrue(later.getMessage().startsWith("rank 2 on "), later.getMessage());
    }

    @Test
    void checkIdenticalNamesTheRankThatDiffers() throws Exception {
        List<String> results = onRanks(new InProcessGroup(3), c -> {
            float[] same = {1f, -0f, 3f};
            c.checkIdentical(same, 0, 3, "same");
            float[] data = {1f, 2f, c.rank() == 2 ? Math.nextUp(3f) : 3f};
            c.checkIdentical(data, 0, 2, "the first two");
            try {
                c.checkIdentical(data, 0, 3, "the residual after layer 3");
                return "no error";
            } catch (CommunicatorException e) {
                return e.getMessage();
            }
        });
        assertEquals(java.util.Collections.nCopies(3,
                "the residual after layer 3 differs between ranks: rank 2 does not hold rank 0's values"), results);
    }

    @Test
    void singleProcessIsRankZeroOfOne() {
        Communicator c = Communicator.single();
        assertEquals(0, c.rank());
        assertEquals(1, c.size());
        float[] data = {1.5f, 2.5f};
        c.allReduceSum(data, 0, 2);
        assertArrayEquals(new float[]{1.5f, 2.5f}, data);
        assertNotEquals("", c.hostName());
    }
}
