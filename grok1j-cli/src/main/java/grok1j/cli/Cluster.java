package grok1j.cli;

import grok1j.model.Model;
import grok1j.model.KernelWarmup;
import grok1j.parallel.Communicator;
import grok1j.parallel.Communicators;
import grok1j.parallel.OpenMpi;
import grok1j.parallel.RankMonitor;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * This process's place in a tensor-parallel job started by {@code mpirun} (spec distributed.md), or a single process.
 * Under {@code mpirun -np N} every rank runs the same command line: rank 0 runs the command as in one process and does
 * all input and output; the other ranks open their slices of the same model, then follow rank 0's forward calls
 * ({@link #follow}) and print nothing unless something fails. A rank that dies is named by rank 0 in one line
 * ({@link RankMonitor}) and the job ends.
 */
final class Cluster {
    private static Communicator comm = Communicator.single();
    private static RankMonitor monitor;
    /** Rank 0: reactions to another rank's failure that run before the process halts (e.g. the server stops taking requests). */
    private static final List<Consumer<String>> beforeHalt = new CopyOnWriteArrayList<>();

    /** Ends a follower's command once rank 0 has finished: the CLI exits with status 0, printing nothing. */
    static final class FollowerDone extends RuntimeException {
        FollowerDone() {
            super(null, null, false, false);
        }
    }

    private Cluster() {
    }

    /** True when this process is one of several ranks started by mpirun (decided before MPI starts). */
    static boolean launchedAsJob() {
        return OpenMpi.launchedSize() > 1;
    }

    /** True on ranks other than 0 of an mpirun job (decided before MPI starts). */
    static boolean launchedAsFollower() {
        String r = System.getenv("OMPI_COMM_WORLD_RANK");
        return launchedAsJob() && r != null && !r.strip().equals("0");
    }

    /**
     * Starts MPI and the rank monitor (collective: every rank, before the command runs).
     *
     * @param err where rank 0 reports another rank's failure
     * @throws grok1j.parallel.CommunicatorException with one line if MPI is missing or cannot start
     */
    static synchronized void start(PrintStream err) {
        comm = Communicators.fromEnvironment();
        monitor = RankMonitor.start(comm, line -> {
            for (Consumer<String> c : beforeHalt) {
                try {
                    c.accept(line);
                } catch (RuntimeException ignored) {
                    // halting anyway
                }
            }
            err.println("grok1j: " + line);
            err.flush();
            Runtime.getRuntime().halt(Main.EXIT_BAD_INPUT);
        });
    }

    /**
     * One line for rank 0 when mpirun bound the ranks of this host to fewer cores than it has online (Open MPI binds
     * each rank to one core when it starts one or two), else null: one rank per host would compute on one core.
     */
    static String bindingWarning() {
        int usable = Runtime.getRuntime().availableProcessors();
        int online = onlineCpus();
        int localRanks = 1;
        try {
            localRanks = Integer.parseInt(System.getenv().getOrDefault("OMPI_COMM_WORLD_LOCAL_SIZE", "1").strip());
        } catch (NumberFormatException e) {
            // keep 1
        }
        if ((long) localRanks * usable >= online) {
            return null;
        }
        return "grok1j: warning: mpirun bound this rank to " + usable + " of this host's " + online
                + " cores; add --bind-to none (one rank per host) or --map-by ppr:1:socket:pe=CORES to use them";
    }

    /** CPUs the kernel has online ({@code /sys/devices/system/cpu/online}, e.g. "0-63"), or 0 if unknown. */
    private static int onlineCpus() {
        try {
            int n = 0;
            for (String range : java.nio.file.Files.readString(java.nio.file.Path.of("/sys/devices/system/cpu/online")).strip().split(",")) {
                String[] ends = range.split("-");
                n += ends.length == 1 ? 1 : Integer.parseInt(ends[1]) - Integer.parseInt(ends[0]) + 1;
            }
            return n;
        } catch (java.io.IOException | RuntimeException e) {
            return 0;
        }
    }

    /** The job's ranks ({@link Communicator#single()} outside mpirun). */
    static synchronized Communicator communicator() {
        return comm;
    }

    /** Rank 0: {@code reaction} runs when another rank fails, before this process halts. */
    static void onRankFailure(Consumer<String> reaction) {
        beforeHalt.add(reaction);
    }

    /**
     * A rank other than 0: warms its kernels up for {@code warmup} (as rank 0 does before serving), then runs rank 0's
     * forward calls until rank 0 is done, and ends the command ({@link FollowerDone}). A failure on the way is sent to
     * rank 0 in one line and this process halts.
     */
    static void follow(Model model, Duration warmup) {
        try {
            if (!warmup.isZero()) {
                KernelWarmup.run(model.network(), warmup);
            }
            model.network().follow();
            model.close();
        } catch (RuntimeException e) {
            fail(e);
        }
        throw new FollowerDone();
    }

    /** Reports {@code e} to rank 0 in one line and halts (a follower); never returns. */
    static void fail(Throwable e) {
        String line = Main.oneLine(e);
        if (monitor != null) {
            monitor.reportFailure(line);
        }
        System.err.println("grok1j: rank " + comm.rank() + " on " + comm.hostName() + ": " + line);
        Runtime.getRuntime().halt(Main.EXIT_BAD_INPUT);
    }

    /** Clean end of the job on this rank: the monitor says goodbye, MPI finalizes. */
    static synchronized void finish() {
        if (monitor != null) {
            monitor.close();
            monitor = null;
        }
        if (comm.size() > 1) {
            comm.close();
        }
    }
}
