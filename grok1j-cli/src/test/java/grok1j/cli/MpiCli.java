package grok1j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import grok1j.parallel.MpiRun;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * Test support: the grok1j CLI ({@link Main}) started from this test JVM's class path under Open MPI's {@code mpirun}
 * (the jar does not exist yet during {@code mvn verify}'s test phase), with its stdout and stderr kept apart, and the
 * checks the tensor-parallel CLI tests share (spec distributed.md §4.2).
 */
final class MpiCli {
    /** A whole mpirun job on this loaded 2-core machine: JVM starts, MPI wire-up, the tiny model (§3.4.12). */
    static final Duration JOB = Duration.ofSeconds(240);
    static final List<String> TCP_ONLY = List.of("--mca", "btl", "tcp,self");
    private static final String INCUBATOR_WARNING = "WARNING: Using incubator modules: jdk.incubator.vector";

    private MpiCli() {
    }

    /** Skips the calling test, printing why, where Open MPI is not installed. */
    static void assumeOpenMpi(String test) {
        Optional<String> reason = MpiRun.unavailableReason();
        reason.ifPresent(r -> System.out.println(test + " skipped: " + r));
        Assumptions.assumeTrue(reason.isEmpty(), () -> reason.orElse(""));
    }

    /** {@code java ... grok1j.cli.Main ARGS} with this JVM's Java and class path and bin/grok1j's JVM flags, small heap. */
    static List<String> cli(String... args) {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx256m", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        return command;
    }

    /** {@code mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 OPTIONS...} (§3.4.1-3). */
    static List<String> mpirun(List<String> options) {
        List<String> all = new ArrayList<>(List.of("mpirun", "--allow-run-as-root", "--oversubscribe",
                "--mca", "mpi_yield_when_idle", "1"));
        all.addAll(options);
        return all;
    }

    /** {@code mpirun ... -np N OPTIONS... java ... grok1j.cli.Main ARGS}. */
    static List<String> mpirun(int ranks, List<String> options, String... args) {
        List<String> all = mpirun(options);
        all.addAll(List.of("-np", Integer.toString(ranks)));
        all.addAll(cli(args));
        return all;
    }

    /**
     * The lines of a job's stderr that the ranks printed: without mpirun's banner blocks (between lines of dashes),
     * Open MPI's own {@code [host:pid] ...} messages and the JVM's note about the incubating Vector API (bin/grok1j
     * filters that one out).
     */
    static List<String> rankLines(String stderr) {
        List<String> lines = new ArrayList<>();
        boolean inBanner = false;
        for (String line : stderr.lines().toList()) {
            if (line.matches("-{20,}")) {
                inBanner = !inBanner;
            } else if (!inBanner && !line.equals(INCUBATOR_WARNING) && !line.matches("\\[[^\\]\\s]+:\\d+] .*")) {
                lines.add(line);
            }
        }
        return lines;
    }

    /** Every number of {@code actual} within {@code tolerance} of {@code expected}'s, everything else equal. */
    static void assertJsonClose(JsonNode expected, JsonNode actual, double tolerance, String where) {
        assertNotNull(actual, where + ": missing");
        if (expected.isNumber()) {
            assertTrue(actual.isNumber(), where + ": " + actual + " is not a number");
            assertEquals(expected.asDouble(), actual.asDouble(), tolerance, where);
        } else if (expected.isObject()) {
            assertTrue(actual.isObject(), where + ": " + actual);
            assertEquals(expected.size(), actual.size(), where + ": " + expected + " vs " + actual);
            for (Iterator<String> it = expected.fieldNames(); it.hasNext(); ) {
                String name = it.next();
                assertJsonClose(expected.get(name), actual.get(name), tolerance, where + "." + name);
            }
        } else if (expected.isArray()) {
            assertTrue(actual.isArray(), where + ": " + actual);
            assertEquals(expected.size(), actual.size(), where + ": " + expected + " vs " + actual);
            for (int i = 0; i < expected.size(); i++) {
                assertJsonClose(expected.get(i), actual.get(i), tolerance, where + "[" + i + "]");
            }
        } else {
            assertEquals(expected, actual, where);
        }
    }

    /** Waits up to {@code timeout} for {@code condition}, polling; fails with {@code what} and the job's output. */
    static void await(Job job, Duration timeout, String what, BooleanSupplier condition) throws Exception {
        long end = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                fail("no " + what + " within " + timeout.toSeconds() + " s: " + job);
            }
            if (!job.process.isAlive() && !condition.getAsBoolean()) {
                fail("the job ended before " + what + ": " + job);
            }
            Thread.sleep(100);
        }
    }

    /**
     * A running command (mpirun and its ranks), stdout and stderr each to its own file. {@link #close} kills
     * whatever of it is still running (SIGTERM, then SIGKILL to the whole tree) and deletes the files.
     */
    static final class Job implements AutoCloseable {
        final Process process;
        private final Path dir;
        private final long start = System.nanoTime();

        private Job(Process process, Path dir) {
            this.process = process;
            this.dir = dir;
        }

        static Job start(List<String> command) throws IOException {
            Path dir = Files.createTempDirectory("grok1j-mpi-job");
            Process p = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectOutput(dir.resolve("stdout").toFile())
                    .redirectError(dir.resolve("stderr").toFile()).start();
            return new Job(p, dir);
        }

        /** Runs {@code command} to its end; fails (after killing it) if it takes longer than {@code timeout}. */
        static Finished run(List<String> command, Duration timeout) throws Exception {
            try (Job job = start(command)) {
                return job.await(timeout);
            }
        }

        byte[] stdoutBytes() {
            try {
                return Files.readAllBytes(dir.resolve("stdout"));
            } catch (IOException e) {
                return new byte[0];
            }
        }

        String stdout() {
            return new String(stdoutBytes(), StandardCharsets.UTF_8);
        }

        String stderr() {
            try {
                return Files.readString(dir.resolve("stderr"), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "";
            }
        }

        /** Waits for the end; on timeout kills the tree and fails with what the job printed. */
        Finished await(Duration timeout) throws Exception {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                String output = toString();
                MpiRun.killTree(process);
                fail("still running after " + timeout.toSeconds() + " s (killed): " + output);
            }
            return new Finished(process.exitValue(), stdoutBytes(), stderr(),
                    Duration.ofNanos(System.nanoTime() - start));
        }

        /** The rank {@code rank} Java process among this job's descendants (read from /proc/PID/environ). */
        Optional<ProcessHandle> rankProcess(int rank) {
            return process.descendants()
                    .filter(h -> h.info().command().map(c -> c.endsWith("/java")).orElse(false))
                    .filter(h -> environ(h.pid()).contains("OMPI_COMM_WORLD_RANK=" + rank))
                    .findFirst();
        }

        private static List<String> environ(long pid) {
            try {
                return List.of(Files.readString(Path.of("/proc", Long.toString(pid), "environ"),
                        StandardCharsets.ISO_8859_1).split("\0"));
            } catch (IOException | RuntimeException e) {
                return List.of();
            }
        }

        @Override
        public void close() throws IOException {
            if (process.isAlive()) {
                try {
                    MpiRun.killTree(process);
                } catch (InterruptedException e) {
                    process.descendants().forEach(ProcessHandle::destroyForcibly);
                    process.destroyForcibly();
                    Thread.currentThread().interrupt();
                }
            }
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }

        @Override
        public String toString() {
            return "\n--- stdout:\n" + stdout() + "\n--- stderr:\n" + stderr();
        }
    }

    /** A job that ended by itself: exit status, stdout bytes, stderr, wall time. */
    record Finished(int status, byte[] stdoutBytes, String stderr, Duration elapsed) {
        String stdout() {
            return new String(stdoutBytes, StandardCharsets.UTF_8);
        }

        @Override
        public String toString() {
            return "status " + status + " after " + elapsed.toMillis() + " ms\n--- stdout:\n" + stdout()
                    + "\n--- stderr:\n" + stderr;
        }
    }
}
