package grok1j.parallel;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The program {@link OpenMpiTest} runs under {@code mpirun}: every collective of {@link OpenMpi} with values it can
 * check on every rank, then one result line on rank 0's stdout.
 *
 * <p>Modes (first argument): {@code collectives} (prints {@code MPI-COLLECTIVES-OK size=N hosts=[...]} or exits 1
 * with {@code MPI-COLLECTIVES-FAILED ...}); {@code kill} (rank 1 sends itself SIGKILL after the monitor started;
 * rank 0 must name it and halt with status 2); {@code report} (rank 1 reports a failure through the monitor).
 */
public final class MpiCollectivesMain {
    private MpiCollectivesMain() {
    }

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "collectives";
        Communicator comm = Communicators.fromEnvironment();
        RankMonitor monitor = RankMonitor.start(comm, RankMonitor.haltOnFailure());
        switch (mode) {
            case "collectives" -> collectives(comm);
            case "kill" -> {
                if (comm.rank() == 1) {
                    long pid = ProcessHandle.current().pid();
                    new ProcessBuilder("kill", "-KILL", Long.toString(pid)).inheritIO().start().waitFor();
                    Thread.sleep(60_000);
                }
                comm.barrier(); // rank 0 waits here until the monitor halts it
                System.out.println("MPI-KILL-NOT-NOTICED");
            }
            case "report" -> {
                if (comm.rank() == 1) {
                    monitor.reportFailure("cannot map its slice (test)");
                }
                comm.barrier();
                System.out.println("MPI-REPORT-NOT-NOTICED");
            }
            default -> throw new IllegalArgumentException("unknown mode " + mode);
        }
        monitor.close();
        comm.close();
    }

    private static void collectives(Communicator comm) {
        int rank = comm.rank();
        int size = comm.size();
        List<String> errors = new ArrayList<>();
        if (!(comm instanceof OpenMpi)) {
            errors.add("not an OpenMpi communicator: " + comm.getClass().getSimpleName());
        }
        long hash = 17;

        // all-reduce: sizes that grow the buffers, values whose float sum depends on the order
        for (int count : new int[]{1, 7, 6144, 100_003}) {
            float[] data = new float[count + 5];
            for (int i = 0; i < count; i++) {
                data[3 + i] = partial(rank, i);
            }
            data[0] = 42f;
            comm.allReduceSum(data, 3, count);
            comm.checkIdentical(data, 3, count, "all-reduce of " + count);
            boolean orderMatters = false;
            for (int i = 0; i < count; i++) {
                float expected = partial(0, i);
                float reversed = partial(size - 1, i);
                for (int r = 1; r < size; r++) {
                    expected += partial(r, i);
                    reversed += partial(size - 1 - r, i);
                }
                orderMatters |= Float.floatToRawIntBits(expected) != Float.floatToRawIntBits(reversed);
                if (Float.floatToRawIntBits(data[3 + i]) != Float.floatToRawIntBits(expected)) {
                    errors.add("allReduceSum count " + count + " element " + i + ": " + data[3 + i]
                            + " != " + expected);
                    break;
                }
                hash = hash * 31 + Float.floatToRawIntBits(data[3 + i]);
            }
            if (data[0] != 42f || data[1] != 0 || data[count + 4] != 0) {
                errors.add("allReduceSum count " + count + " wrote outside its range");
            }
            if (size >= 3 && count >= 7 && !orderMatters) {
                errors.add("test values do not depend on the summation order (count " + count + ")");
            }
        }

        // the hot path: many activation-sized all-reduces, timed
        TimedCommunicator timed = new TimedCommunicator(comm, 256);
        float[] activation = new float[6144];
        for (int k = 0; k < 300; k++) {
            Arrays.fill(activation, rank + k);
            timed.allReduceSum(activation, 0, activation.length);
            float expected = 0;
            for (int r = 0; r < size; r++) {
                expected += r + k;
            }
            if (activation[6143] != expected) {
                errors.add("repeated allReduceSum " + k + ": " + activation[6143] + " != " + expected);
                break;
            }
        }

        // broadcasts from the first and the last rank
        for (int root : new int[]{0, size - 1}) {
            int[] ints = new int[10];
            byte[] bytes = new byte[70_000];
            if (rank == root) {
                for (int i = 0; i < 8; i++) {
                    ints[1 + i] = 1000 * root + i;
                }
                for (int i = 0; i < 65_536; i++) {
                    bytes[2 + i] = (byte) (i * 7 + root);
                }
            }
            comm.broadcast(ints, 1, 8, root);
            comm.broadcast(bytes, 2, 65_536, root);
            for (int i = 0; i < 8; i++) {
                if (ints[1 + i] != 1000 * root + i) {
                    errors.add("broadcast(int[]) from " + root + " element " + i + ": " + ints[1 + i]);
                    break;
                }
            }
            for (int i = 0; i < 65_536; i++) {
                if (bytes[2 + i] != (byte) (i * 7 + root)) {
                    errors.add("broadcast(byte[]) from " + root + " element " + i + ": " + bytes[2 + i]);
                    break;
                }
            }
            if (ints[0] != 0 || ints[9] != 0 || bytes[0] != 0 || bytes[65_538] != 0) {
                errors.add("broadcast from " + root + " wrote outside its range");
            }
        }

        // gathers to the first and the last rank
        for (int root : new int[]{0, size - 1}) {
            float[] send = {-1, rank + 0.5f, rank * 2f, -1};
            float[] recv = rank == root ? new float[1 + 2 * size] : null;
            comm.gather(send, 1, 2, recv, 1, root);
            byte[] sendBytes = ("r" + rank + "!").getBytes(StandardCharsets.US_ASCII);
            byte[] recvBytes = rank == root ? new byte[3 * size] : null;
            comm.gather(sendBytes, 0, 3, recvBytes, 0, root);
            if (rank == root) {
                for (int r = 0; r < size; r++) {
                    if (recv[1 + 2 * r] != r + 0.5f || recv[2 + 2 * r] != r * 2f) {
                        errors.add("gather(float[]) to " + root + " from rank " + r);
                    }
                    String s = new String(recvBytes, 3 * r, 3, StandardCharsets.US_ASCII);
                    if (!s.equals("r" + r + "!") && r < 10) {
                        errors.add("gather(byte[]) to " + root + " from rank " + r + ": " + s);
                    }
                }
            }
        }
        comm.barrier();

        // every rank must hold bit-identical all-reduce results: compare the hashes on rank 0
        byte[] mine = ByteBuffer.allocate(8).putLong(hash).array();
        byte[] all = rank == 0 ? new byte[8 * size] : null;
        comm.gather(mine, 0, 8, all, 0, 0);
        byte[] hostBytes = Arrays.copyOf(comm.hostName().getBytes(StandardCharsets.UTF_8), 64);
        byte[] hosts = rank == 0 ? new byte[64 * size] : null;
        comm.gather(hostBytes, 0, 64, hosts, 0, 0);
        byte[] errorFlags = rank == 0 ? new byte[size] : null;
        comm.gather(new byte[]{(byte) (errors.isEmpty() ? 0 : 1)}, 0, 1, errorFlags, 0, 0);
        if (!errors.isEmpty()) {
            System.out.println("MPI-COLLECTIVES-FAILED rank " + rank + ": " + String.join("; ", errors));
        }
        if (rank == 0) {
            List<String> names = new ArrayList<>();
            boolean identical = true;
            boolean failed = false;
            ByteBuffer b = ByteBuffer.wrap(all);
            for (int r = 0; r < size; r++) {
                identical &= b.getLong(8 * r) == hash;
                failed |= errorFlags[r] != 0;
                names.add(new String(hosts, 64 * r, 64, StandardCharsets.UTF_8).replace("\0", ""));
            }
            if (!identical) {
                System.out.println("MPI-COLLECTIVES-FAILED all-reduce results differ between ranks");
            } else if (!failed) {
                System.out.printf("MPI-COLLECTIVES-OK size=%d hosts=%s allreduce-hash=%016x"
                                + " allreduce-6144-median-us=%.1f p90-us=%.1f%n", size, names, hash,
                        timed.allReduceMedianNanos() / 1e3, timed.allReduceP90Nanos() / 1e3);
            }
            System.out.flush();
            if (!identical || failed) {
                System.exit(1);
            }
        } else if (!errors.isEmpty()) {
            System.exit(1);
        }
    }

    /**
     * Rank {@code r}'s partial at element {@code i}: a small value, a large one and the large one negated on the
     * first three ranks, so {@code (p0 + p1) + p2} (the small value absorbed, then cancelled: 0) differs from
     * {@code (p2 + p1) + p0} (the small value).
     */
    static float partial(int r, int i) {
        return switch (r % 3) {
            case 0 -> 1.0f + 0.25f * (i % 13) + r;
            case 1 -> 1.0e8f;
            default -> -1.0e8f;
        };
    }
}
