package grok1j.parallel;

/**
 * Picks the communicator of this process from how it was launched. Typical use, on every rank:
 *
 * <pre>{@code
 * try (Communicator comm = Communicators.fromEnvironment();
 *      RankMonitor monitor = RankMonitor.start(comm, RankMonitor.haltOnFailure())) {
 *     ... // the same calls on every rank; rank 0 does the input and output
 * }   // monitor.close() (BYE: a clean exit), then comm.close() (MPI_Finalize)
 * }</pre>
 *
 * <p>Every rank must close both before it exits: a rank that exits without {@code BYE} is reported by rank 0 as
 * stopped unexpectedly, and one that exits without {@code MPI_Finalize} makes {@code mpirun} fail the job.
 */
public final class Communicators {
    private Communicators() {
    }

    /**
     * {@link OpenMpi#init()} when this process was started by Open MPI's {@code mpirun} with more than one rank,
     * otherwise {@link Communicator#single()} ({@code mpirun -np 1} needs no MPI at all).
     *
     * @throws CommunicatorException with one line when MPI is needed but missing, not Open MPI, or fails to start
     */
    public static Communicator fromEnvironment() {
        return OpenMpi.launchedSize() > 1 ? OpenMpi.init() : Communicator.single();
    }
}
