package grok1j.parallel;

import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code size} ranks as threads of one JVM, meeting at a barrier: the same collectives as a multi-process job, for
 * tests of the tensor-parallel forward pass without MPI. Each rank uses its own {@link #rank(int)} communicator from
 * its own thread.
 *
 * <p>A rank that fails calls {@link #fail}: every rank waiting in (or later entering) a collective then gets a
 * {@link CommunicatorException} naming it, instead of waiting forever. A collective that waits longer than the
 * timeout fails the same way.
 */
public final class InProcessGroup {
    private final int size;
    private final CyclicBarrier barrier;
    private final long timeoutMillis;
    /** One deposit per rank, published by the barrier. */
    private final Object[] slots;
    private volatile String failure;

    /** @throws IllegalArgumentException if {@code size < 1} */
    public InProcessGroup(int size) {
        this(size, 120_000);
    }

    public InProcessGroup(int size, long timeoutMillis) {
        if (size < 1) {
            throw new IllegalArgumentException("a group needs at least one rank, got " + size);
        }
        this.size = size;
        this.barrier = new CyclicBarrier(size);
        this.timeoutMillis = timeoutMillis;
        this.slots = new Object[size];
    }

    public int size() {
        return size;
    }

    /** The communicator of rank {@code r}. */
    public Communicator rank(int r) {
        if (r < 0 || r >= size) {
            throw new IllegalArgumentException("rank " + r + " outside [0, " + size + ")");
        }
        return new Member(r);
    }

    /** Marks rank {@code r} as failed: every collective of the group fails from now on, naming it. */
    public void fail(int r, String why) {
        if (failure == null) {
            failure = "rank " + r + " on " + HostNames.local() + " failed: " + why;
        }
        barrier.reset();
    }

    private void await() {
        if (failure != null) {
            throw new CommunicatorException(failure);
        }
        try {
            barrier.await(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (BrokenBarrierException e) {
            throw new CommunicatorException(failure != null ? failure : "a rank left the group");
        } catch (TimeoutException e) {
            fail(-1, "a collective waited " + timeoutMillis + " ms");
            throw new CommunicatorException("a collective waited more than " + timeoutMillis + " ms for the other ranks");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommunicatorException("interrupted in a collective");
        }
        if (failure != null) {
            throw new CommunicatorException(failure);
        }
    }

    private final class Member implements Communicator {
        private final int rank;

        Member(int rank) {
            this.rank = rank;
        }

        @Override public int rank() { return rank; }
        @Override public int size() { return size; }
        @Override public String hostName() { return HostNames.local(); }

        @Override
        public void allReduceSum(float[] data, int offset, int count) {
            float[] mine = new float[count];
            System.arraycopy(data, offset, mine, 0, count);
            slots[rank] = mine;
            await();
            // every rank adds the partials in rank order: bit-identical results
            float[] first = (float[]) slots[0];
            System.arraycopy(first, 0, data, offset, count);
            for (int r = 1; r < size; r++) {
                float[] p = (float[]) slots[r];
                for (int i = 0; i < count; i++) {
                    data[offset + i] += p[i];
                }
            }
            await();
        }

        @Override
        public void broadcast(int[] data, int offset, int count, int root) {
            if (rank == root) {
                slots[root] = java.util.Arrays.copyOfRange(data, offset, offset + count);
            }
            await();
            if (rank != root) {
                System.arraycopy((int[]) slots[root], 0, data, offset, count);
            }
            await();
        }

        @Override
        public void broadcast(byte[] data, int offset, int count, int root) {
            if (rank == root) {
                slots[root] = java.util.Arrays.copyOfRange(data, offset, offset + count);
            }
            await();
            if (rank != root) {
                System.arraycopy((byte[]) slots[root], 0, data, offset, count);
            }
            await();
        }

        @Override
        public void gather(float[] send, int sendOffset, int count, float[] recv, int recvOffset, int root) {
            slots[rank] = java.util.Arrays.copyOfRange(send, sendOffset, sendOffset + count);
            await();
            if (rank == root) {
                for (int r = 0; r < size; r++) {
                    System.arraycopy((float[]) slots[r], 0, recv, recvOffset + r * count, count);
                }
            }
            await();
        }

        @Override
        public void gather(byte[] send, int sendOffset, int count, byte[] recv, int recvOffset, int root) {
            slots[rank] = java.util.Arrays.copyOfRange(send, sendOffset, sendOffset + count);
            await();
            if (rank == root) {
                for (int r = 0; r < size; r++) {
                    System.arraycopy((byte[]) slots[r], 0, recv, recvOffset + r * count, count);
                }
            }
            await();
        }

        @Override
        public void barrier() {
            await();
        }

        @Override
        public void close() {
        }
    }
}
