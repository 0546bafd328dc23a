package grok1j.parallel;

/**
 * The collectives a tensor-parallel forward pass needs (spec distributed.md §2.4): {@link #size()} ranks, each
 * running the same forward pass over its slice of the weights, meeting twice per layer in an all-reduce.
 *
 * <p>Every call is collective: all ranks make the same calls in the same order with the same counts. Buffers are
 * plain Java arrays; an implementation over a native library copies them to and from its own off-heap buffers
 * (24 KiB per activation all-reduce: well under a microsecond against ~15 us for the collective).
 *
 * <p>Implementations: {@link #single()} (one process, every collective a no-op), {@link InProcessGroup} (ranks as
 * threads of one JVM, for tests) and Open MPI reached through the FFM API.
 *
 * <p>Failures: a collective that cannot complete (a peer died, the native library reported an error) throws
 * {@link CommunicatorException}; what the process does next is the caller's business.
 */
public interface Communicator extends AutoCloseable {

    /** This process's rank, {@code [0, size)}. Rank 0 does all input and output and samples. */
    int rank();

    /** Number of ranks. */
    int size();

    /** A short name of the host this rank runs on (for error messages naming a rank). */
    String hostName();

    /**
     * Element-wise sum of {@code data[offset, offset + count)} over all ranks, written back in place on every rank.
     * Every rank ends with the <b>bit-identical</b> vector: the partials are added in rank order
     * ({@code ((p0 + p1) + p2) + ...}) on every rank, whatever algorithm moves them, because every rank routes
     * experts and samples from the result.
     */
    void allReduceSum(float[] data, int offset, int count);

    /** Copies {@code root}'s {@code data[offset, offset + count)} into the same range on every other rank. */
    void broadcast(int[] data, int offset, int count, int root);

    /** Copies {@code root}'s {@code data[offset, offset + count)} into the same range on every other rank. */
    void broadcast(byte[] data, int offset, int count, int root);

    /**
     * Rank {@code r}'s {@code send[sendOffset, sendOffset + count)} lands in
     * {@code recv[recvOffset + r * count, recvOffset + (r + 1) * count)} on {@code root}; {@code recv} is not used on
     * other ranks (may be null there).
     */
    void gather(float[] send, int sendOffset, int count, float[] recv, int recvOffset, int root);

    /** As {@link #gather(float[], int, int, float[], int, int)}, for bytes (status blocks, fingerprints, names). */
    void gather(byte[] send, int sendOffset, int count, byte[] recv, int recvOffset, int root);

    /** Returns once every rank has called it. */
    void barrier();

    /** Leaves the group (MPI_Finalize); no collective may follow. */
    @Override
    void close();

    /**
     * A debug check that every rank holds the bit-identical {@code data[offset, offset + count)} (e.g. the residual
     * stream after a layer; spec distributed.md §2.4 "Determinism"): rank 0 gathers a 64-bit hash of every rank's
     * range and broadcasts the first rank that differs. Collective; two small collectives, no allocation beyond a few
     * bytes.
     *
     * @param what names the vector in the error, e.g. {@code "the residual after layer 3"}
     * @throws CommunicatorException on every rank, naming the first rank whose vector differs from rank 0's
     */
    default void checkIdentical(float[] data, int offset, int count, String what) {
        java.util.Objects.checkFromIndexSize(offset, count, data.length);
        long hash = 0x9E3779B97F4A7C15L;
        for (int i = 0; i < count; i++) {
            hash = (hash ^ Float.floatToRawIntBits(data[offset + i])) * 0x100000001B3L;
        }
        byte[] mine = new byte[8];
        for (int b = 0; b < 8; b++) {
            mine[b] = (byte) (hash >>> (8 * b));
        }
        byte[] all = rank() == 0 ? new byte[8 * size()] : null;
        gather(mine, 0, 8, all, 0, 0);
        int[] differing = {-1};
        if (rank() == 0) {
            for (int r = 1; r < size() && differing[0] < 0; r++) {
                if (!java.util.Arrays.equals(all, 8 * r, 8 * r + 8, mine, 0, 8)) {
                    differing[0] = r;
                }
            }
        }
        broadcast(differing, 0, 1, 0);
        if (differing[0] >= 0) {
            throw new CommunicatorException(what + " differs between ranks: rank " + differing[0]
                    + " does not hold rank 0's values");
        }
    }

    /** The communicator of a process that runs the whole model alone: rank 0 of 1, every collective a no-op. */
    static Communicator single() {
        return SingleProcess.INSTANCE;
    }
}
