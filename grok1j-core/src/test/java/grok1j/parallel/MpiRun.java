package grok1j.parallel;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Test support: runs a command (e.g. a Java main of the test class path) under Open MPI's {@code mpirun} with a
 * bounded time, and collects its merged output. The whole process tree is killed if the time runs out.
 */
public final class MpiRun {
    /** A finished run: exit status (-1 if it timed out), merged stdout and stderr, wall time. */
    public record Result(int status, String output, Duration elapsed) {
        @Override
        public String toString() {
            return "status " + status + " after " + elapsed.toMillis() + " ms, output:\n" + output;
        }
    }

    private MpiRun() {
    }

    /** Why MPI tests cannot run here (no mpirun on the PATH, no libmpi.so.40, not Open MPI), or empty. */
    public static Optional<String> unavailableReason() {
        if (which("mpirun").isEmpty()) {
            return Optional.of("mpirun is not on the PATH (install openmpi-bin)");
        }
        try {
            OpenMpi.libraryVersion();
        } catch (CommunicatorException e) {
            return Optional.of(e.getMessage());
        }
        return Optional.empty();
    }

    /**
     * The command that starts {@code mainClass} with this test JVM's Java and class path, native access enabled (spec
     * distributed.md §3.4.4).
     */
    public static List<String> javaCommand(Class<?> mainClass, String... args) {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), mainClass.getName()));
        command.addAll(List.of(args));
        return command;
    }

    /**
     * {@code mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 -np N OPTIONS... COMMAND...}
     * (as root, on a shared 2-core machine: spec distributed.md §3.4.1-3).
     */
    public static Result mpirun(int ranks, List<String> options, List<String> command, Duration timeout)
            throws IOException, InterruptedException {
        List<String> all = new ArrayList<>(List.of("mpirun", "--allow-run-as-root", "--oversubscribe",
                "--mca", "mpi_yield_when_idle", "1", "-np", Integer.toString(ranks)));
        all.addAll(options);
        all.addAll(command);
        return run(all, timeout);
    }

    /** Runs {@code command} with stdin closed; kills the process tree after {@code timeout}. */
    public static Result run(List<String> command, Duration timeout) throws IOException, InterruptedException {
        long start = System.nanoTime();
        Process p = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Thread reader = Thread.ofPlatform().daemon(true).start(() -> copy(p.getInputStream(), out));
        int status;
        if (p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            status = p.exitValue();
        } else {
            killTree(p);
            status = -1;
        }
        reader.join(10_000);
        String text;
        synchronized (out) {
            text = out.toString(StandardCharsets.UTF_8);
        }
        return new Result(status, text, Duration.ofNanos(System.nanoTime() - start));
    }

    /** SIGTERM first (mpirun then stops its ranks), SIGKILL to whatever is left after ten seconds. */
    public static void killTree(Process p) throws InterruptedException {
        List<ProcessHandle> tree = p.descendants().toList();
        p.destroy();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        tree.forEach(ProcessHandle::destroyForcibly);
        p.descendants().forEach(ProcessHandle::destroyForcibly);
    }

    private static void copy(InputStream in, ByteArrayOutputStream out) {
        byte[] buf = new byte[8192];
        try (in) {
            int n;
            while ((n = in.read(buf)) > 0) {
                synchronized (out) {
                    out.write(buf, 0, n);
                }
            }
        } catch (IOException ignored) {
            // the process is gone
        }
    }

    public static Optional<Path> which(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
                return Optional.of(Path.of(dir, program));
            }
        }
        return Optional.empty();
    }
}
