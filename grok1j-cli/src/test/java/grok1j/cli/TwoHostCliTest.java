package grok1j.cli;

import static grok1j.cli.MpiCli.rankLines;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import grok1j.parallel.MpiRun;
import grok1j.parallel.TwoHostNetwork;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code grok1j generate} with one rank on each of two "hosts" (network namespaces joined by a veth pair, own host
 * names, TCP only; spec distributed.md §4.3) prints what one process prints. Skipped, with the reason printed, without
 * Open MPI or where this machine does not allow namespaces. The filesystem is shared, so both ranks run this JVM's
 * Java and class path; each rank's stdout and stderr go to its own file, so that rank 1's silence is checked too.
 */
class TwoHostCliTest {
    @Test
    void generateAcrossTwoNamespacesEqualsOneProcess(@TempDir Path tmp) throws Exception {
        Optional<String> reason = MpiRun.unavailableReason();
        if (reason.isEmpty()) {
            reason = TwoHostNetwork.unavailableReason();
        }
        reason.ifPresent(r -> System.out.println("TwoHostCliTest skipped: " + r));
        Assumptions.assumeTrue(reason.isEmpty(), reason.orElse(""));

        String[] args = TensorParallelCliTest.withModel(TensorParallelCliTest.tiny(), TensorParallelCliTest.GENERATE);
        CliTest.Run want = TensorParallelCliTest.single(TensorParallelCliTest.GENERATE);

        List<String> command = new ArrayList<>(List.of("sh", "-c",
                "exec \"$@\" >\"$0/out.$OMPI_COMM_WORLD_RANK\" 2>\"$0/err.$OMPI_COMM_WORLD_RANK\"", tmp.toString()));
        command.addAll(MpiCli.cli(args));
        // one rank per host, as the README runs it: unbound, so rank 0 has no reason to warn about its cores
        MpiRun.Result r = TwoHostNetwork.run(List.of("--bind-to", "none"), command, Duration.ofSeconds(300));
        System.out.println("TwoHostCliTest: " + r.elapsed().toMillis() + " ms");
        String ranks = "\n--- rank 0 stderr:\n" + read(tmp, "err.0") + "\n--- rank 1 stderr:\n" + read(tmp, "err.1")
                + "\n--- mpirun: " + r;
        assertEquals(0, r.status(), ranks);
        assertArrayEquals(want.out().getBytes(StandardCharsets.UTF_8),
                read(tmp, "out.0").getBytes(StandardCharsets.UTF_8), () -> "one process: " + want.out() + ranks);
        assertEquals(TensorParallelCliTest.shape(want.err().lines().toList()),
                TensorParallelCliTest.shape(rankLines(read(tmp, "err.0"))), ranks);
        assertEquals("", read(tmp, "out.1"), ranks);
        assertEquals(List.of(), rankLines(read(tmp, "err.1")), ranks);
    }

    private static String read(Path dir, String name) throws java.io.IOException {
        Path f = dir.resolve(name);
        return Files.exists(f) ? Files.readString(f, StandardCharsets.UTF_8) : "(no " + name + ")";
    }
}
