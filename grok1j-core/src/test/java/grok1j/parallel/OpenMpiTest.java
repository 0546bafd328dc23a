package grok1j.parallel;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Assumptions;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link OpenMpi} and {@link RankMonitor} in real {@code mpirun} jobs of {@link MpiCollectivesMain} (spec
 * distributed.md §4.2): 2 and 3 ranks, over shared memory and over TCP only. Skipped, with the reason printed, where
 * Open MPI is not installed. Each job takes a few seconds here (JVM start and MPI wire-up).
 */
class OpenMpiTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final List<String> TCP_ONLY = List.of("--mca", "btl", "tcp,self");

    @BeforeAll
    static void needsOpenMpi() {
        Optional<String> reason = MpiRun.unavailableReason();
        if (reason.isPresent()) {
            System.out.println("OpenMpiTest skipped: " + reason.get());
        }
        Assumptions.assumeTrue(reason.isEmpty(), () -> reason.orElse(""));
    }

    @Test
    void twoRanksOverSharedMemory() throws Exception {
        collectives(2, List.of());
    }

    @Test
    void threeRanksOverSharedMemory() throws Exception {
        collectives(3, List.of());
    }

    @Test
    void twoRanksOverTcp() throws Exception {
        collectives(2, TCP_ONLY);
    }

    @Test
    void threeRanksOverTcp() throws Exception {
        collectives(3, TCP_ONLY);
    }

    /** Every collective checked on every rank, all-reduce results bit-identical across ranks (checked on rank 0). */
    private static void collectives(int ranks, List<String> options) throws Exception {
        MpiRun.Result r = MpiRun.mpirun(ranks, options,
                MpiRun.javaCommand(MpiCollectivesMain.class, "collectives"), TIMEOUT);
        System.out.println("OpenMpiTest " + ranks + " ranks " + options + ": " + r.elapsed().toMillis() + " ms");
        String host = HostNames.local();
        String hosts = String.join(", ", java.util.Collections.nCopies(ranks, host));
        assertTrue(r.output().contains("MPI-COLLECTIVES-OK size=" + ranks + " hosts=[" + hosts + "]"), r::toString);
        assertFalse(r.output().contains("FAILED"), r::toString);
        assertTrue(r.status() == 0, r::toString);
    }

    @Test
    void killedRankIsNamedByRankZero() throws Exception {
        MpiRun.Result r = MpiRun.mpirun(2, List.of(), MpiRun.javaCommand(MpiCollectivesMain.class, "kill"), TIMEOUT);
        System.out.println("OpenMpiTest kill: " + r.elapsed().toMillis() + " ms");
        assertTrue(r.output().contains("grok1j: rank 1 on host " + HostNames.local()
                + " stopped unexpectedly (killed or crashed)\n"), r::toString);
        assertFalse(r.output().contains("NOT-NOTICED"), r::toString);
        assertNotEquals(0, r.status(), r::toString);
        assertNotEquals(-1, r.status(), r::toString); // ended by itself, not by the timeout
    }

    @Test
    void reportedFailureIsPrintedByRankZero() throws Exception {
        MpiRun.Result r = MpiRun.mpirun(2, List.of(), MpiRun.javaCommand(MpiCollectivesMain.class, "report"), TIMEOUT);
        System.out.println("OpenMpiTest report: " + r.elapsed().toMillis() + " ms");
        assertTrue(r.output().contains("grok1j: rank 1 on host " + HostNames.local()
                + ": cannot map its slice (test)\n"), r::toString);
        assertFalse(r.output().contains("NOT-NOTICED"), r::toString);
        assertNotEquals(0, r.status(), r::toString);
        assertNotEquals(-1, r.status(), r::toString);
    }

    @Test
    void withoutMpirunTheEnvironmentGivesOneProcess() {
        Assumptions.assumeFalse(OpenMpi.isLaunchedByMpirun());
        Communicator c = Communicators.fromEnvironment();
        assertTrue(c.size() == 1 && c.rank() == 0);
    }
}
