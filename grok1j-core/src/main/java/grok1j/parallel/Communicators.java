package grok1j.parallel;

/** Picks the communicator of this process from how it was launched. */
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
