package grok1j.parallel;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TimedCommunicatorTest {

    /** A communicator whose all-reduce "takes" a scripted time, so the statistics can be checked exactly. */
    private static final class Scripted implements Communicator {
        private final long[] nanos;
        private int next;

        Scripted(long... nanos) {
            this.nanos = nanos;
        }

        @Override
        public void allReduceSum(float[] data, int offset, int count) {
            long until = System.nanoTime() + nanos[next++];
            while (System.nanoTime() < until) {
                Thread.onSpinWait();
            }
            data[offset] += 1;
        }

        @Override public int rank() { return 0; }
        @Override public int size() { return 1; }
        @Override public String hostName() { return "h"; }
        @Override public void broadcast(int[] d, int o, int c, int r) { }
        @Override public void broadcast(byte[] d, int o, int c, int r) { }
        @Override public void gather(float[] s, int so, int c, float[] r, int ro, int root) { }
        @Override public void gather(byte[] s, int so, int c, byte[] r, int ro, int root) { }
        @Override public void barrier() { }
        @Override public void close() { }
    }

    @Test
    void recordsEveryAllReduceAndDelegates() {
        TimedCommunicator t = new TimedCommunicator(new Scripted(1_000_000, 3_000_000, 2_000_000), 8);
        float[] data = new float[1];
        for (int i = 0; i < 3; i++) {
            t.allReduceSum(data, 0, 1);
        }
        assertArrayEquals(new float[]{3}, data);
        assertEquals(3, t.allReduceCount());
        // each call took at least its scripted time; the order statistics follow the scripted order
        assertTrue(t.allReduceTotalNanos() >= 6_000_000);
        assertTrue(t.allReduceMedianNanos() >= 2_000_000 && t.allReduceMedianNanos() < t.allReduceP90Nanos());
        assertTrue(t.allReduceP90Nanos() >= 3_000_000);
        t.reset();
        assertEquals(0, t.allReduceCount());
        assertEquals(0, t.allReduceMedianNanos());
    }

    @Test
    void theRingKeepsTheLastCalls() {
        TimedCommunicator t = new TimedCommunicator(new Scripted(5_000_000, 0, 0, 0), 3);
        float[] data = new float[1];
        for (int i = 0; i < 4; i++) {
            t.allReduceSum(data, 0, 1);
        }
        assertEquals(4, t.allReduceCount());
        assertTrue(t.allReduceTotalNanos() >= 5_000_000);
        assertTrue(t.percentile(1.0) < 5_000_000, "the first (slow) call left the ring");
        assertThrows(IllegalArgumentException.class, () -> t.percentile(0));
    }
}
