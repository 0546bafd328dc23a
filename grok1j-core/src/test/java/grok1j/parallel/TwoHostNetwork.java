package grok1j.parallel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Test support: two "hosts" on this machine, as two network namespaces joined by a veth pair with their own host
 * names, and one {@code mpirun} across them with one rank in each (spec distributed.md §4.3). The work is done by
 * {@code grok1j-core/src/test/sh/two-hosts.sh} (usable from any module's tests or by hand); this class picks a unique
 * name suffix, bounds the time and always removes the namespaces and their {@code /etc/netns} directories, in a
 * {@code finally} and in a shutdown hook.
 *
 * <p>Host names: {@code g1j-a-ID} (rank 0, where mpirun runs) and {@code g1j-b-ID} (rank 1); the subnet
 * {@code 10.213.77.0/24} exists only inside the two namespaces.
 */
public final class TwoHostNetwork {
    private TwoHostNetwork() {
    }

    /** The helper script, found from the current module's directory (or its parent, the repository root). */
    public static Path script() {
        for (Path candidate : List.of(Path.of("src/test/sh/two-hosts.sh"),
                Path.of("../grok1j-core/src/test/sh/two-hosts.sh"), Path.of("grok1j-core/src/test/sh/two-hosts.sh"))) {
            if (Files.isRegularFile(candidate)) {
                return candidate.toAbsolutePath().normalize();
            }
        }
        throw new IllegalStateException("two-hosts.sh not found from " + Path.of("").toAbsolutePath());
    }

    /** Why two namespaces cannot be made here (not root, no ip/unshare, not permitted), or empty. */
    public static Optional<String> unavailableReason() throws IOException, InterruptedException {
        MpiRun.Result r = MpiRun.run(List.of("bash", script().toString(), "check"), Duration.ofSeconds(30));
        return r.status() == 0 ? Optional.empty() : Optional.of(r.output().strip());
    }

    /**
     * Runs {@code command} as rank 0 on host {@code g1j-a-ID} and rank 1 on {@code g1j-b-ID} through mpirun (TCP only,
     * interfaces pinned to the test subnet, {@code mpi_yield_when_idle 1}), with extra {@code mpirunOptions}.
     * The namespaces are removed afterwards whatever happens.
     */
    public static MpiRun.Result run(List<String> mpirunOptions, List<String> command, Duration timeout)
            throws IOException, InterruptedException {
        String id = Long.toString(ProcessHandle.current().pid()) + ThreadLocalRandom.current().nextInt(100, 1000);
        Thread cleanup = new Thread(() -> down(id));
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            List<String> all = new ArrayList<>(List.of("env", "G1J_NET_ID=" + id, "bash", script().toString(), "run"));
            all.addAll(mpirunOptions);
            all.add("--");
            all.addAll(command);
            return MpiRun.run(all, timeout);
        } finally {
            down(id);
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException e) {
                // shutting down: the hook runs anyway
            }
        }
    }

    /** The start of rank {@code r}'s host name (0 or 1): {@code g1j-a-} or {@code g1j-b-}, then the run's id. */
    public static String hostPrefix(int rank) {
        return rank == 0 ? "g1j-a-" : "g1j-b-";
    }

    private static void down(String id) {
        try {
            new ProcessBuilder("bash", script().toString(), "down", id).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
        } catch (IOException | InterruptedException | RuntimeException e) {
            System.err.println("TwoHostNetwork: could not remove namespaces g1j-a-" + id + ", g1j-b-" + id + ": " + e);
        }
    }
}
