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

    /** The communicator of a process that runs the whole model alone: rank 0 of 1, every collective a no-op. */
    static Communicator single() {
        return SingleProcess.INSTANCE;
    }
}
