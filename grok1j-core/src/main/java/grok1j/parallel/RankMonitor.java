package grok1j.parallel;

import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A side channel that lets rank 0 name a rank that dies: one TCP connection from every other rank to rank 0, outside
 * MPI. When a rank is killed or crashes, the kernel closes its socket and rank 0 hears it at once, while an MPI
 * collective would only fail (or hang) later and without a name.
 *
 * <p>Protocol: rank 0 listens on an ephemeral port and broadcasts (through the communicator) its IPv4 addresses,
 * the port and a random 128-bit token; every other rank connects (trying each address), sends its rank, its host
 * name and the token, and keeps the socket open. Rank 0 accepts exactly {@code size - 1} authenticated connections,
 * then closes the listening socket. Messages are lines: {@code BYE} (clean exit) and {@code ERR <message>}.
 *
 * <p>On rank 0, a peer's socket ending without {@code BYE} calls the failure callback once with
 * {@code "rank 1 on host g1j-b stopped unexpectedly (killed or crashed)"}; an {@code ERR} line with
 * {@code "rank 1 on host g1j-b: <message>"}. A follower whose socket to rank 0 breaks without {@code BYE} halts at
 * once (rank 0 is gone; the launcher reports it).
 *
 * <p>Security: apart from the token, this channel (like MPI traffic) is unauthenticated and unencrypted: run on a
 * private network only.
 */
public final class RankMonitor implements AutoCloseable {
    private static final int MAGIC = 0x67316a6d; // "g1jm"
    private static final int CONNECT_TIMEOUT_MS = 3_000;
    /** How long rank 0 waits for all ranks to connect. */
    private static final int ACCEPT_TIMEOUT_MS = 120_000;
    /** How long a peer may take to send its greeting once connected. */
    private static final int HELLO_TIMEOUT_MS = 10_000;
    private static final int STATUS_HALT = 2;

    private final Communicator comm;
    private final Consumer<String> onFailure;
    private final List<Peer> peers;
    /** A follower's connection to rank 0 (null on rank 0). */
    private final Peer leader;
    private final AtomicBoolean failed = new AtomicBoolean();
    private volatile boolean closed;

    private RankMonitor(Communicator comm, Consumer<String> onFailure, List<Peer> peers, Peer leader) {
        this.comm = comm;
        this.onFailure = onFailure;
        this.peers = peers;
        this.leader = leader;
    }

    /**
     * Starts the monitor (collective: every rank calls it, right after the communicator is created). With one rank it
     * does nothing.
     *
     * @param onFailure on rank 0: called once, on a watcher thread, with a one-line description of the first rank
     *     that failed; {@link #haltOnFailure()} is the usual reaction. Not used on other ranks.
     * @throws CommunicatorException if the ranks cannot connect within two minutes
     */
    public static RankMonitor start(Communicator comm, Consumer<String> onFailure) {
        if (comm.size() == 1) {
            return new RankMonitor(comm, onFailure, List.of(), null);
        }
        try {
            return comm.rank() == 0 ? startLeader(comm, onFailure) : startFollower(comm, onFailure);
        } catch (IOException e) {
            throw new CommunicatorException("rank monitor on rank " + comm.rank() + ": " + e.getMessage(), e);
        }
    }

    /** Rank 0's usual reaction: {@code grok1j: <line>} on stderr, then {@code Runtime.halt(2)}. */
    public static Consumer<String> haltOnFailure() {
        return haltOnFailure(System.err);
    }

    static Consumer<String> haltOnFailure(PrintStream err) {
        return line -> {
            err.println("grok1j: " + line);
            err.flush();
            Runtime.getRuntime().halt(STATUS_HALT);
        };
    }

    /**
     * On a rank other than 0: tells rank 0 why this rank cannot go on (one line, e.g. "cannot map shard 3: ..."), waits
     * up to five seconds for rank 0 to react, then halts this process with status 2. Never returns. On rank 0 (or with
     * one rank) it calls the failure callback with {@code "rank 0 on host H: <message>"}.
     */
    public void reportFailure(String message) {
        String line = message.replace('\n', ' ').replace('\r', ' ');
        if (leader == null) {
            fail("rank " + comm.rank() + " on host " + comm.hostName() + ": " + line);
            return;
        }
        try {
            leader.send("ERR " + line);
            // rank 0 halts on this message; its end of the socket closing tells us it has it
            leader.socket.setSoTimeout(5_000);
            leader.socket.getInputStream().read();
        } catch (IOException ignored) {
            // rank 0 is gone or slow: halt anyway
        }
        Runtime.getRuntime().halt(STATUS_HALT);
    }

    /**
     * Clean exit: sends {@code BYE} to the other side(s) and closes the sockets. Every rank calls it before it exits;
     * after it, a rank's exit is not a failure.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<Peer> all = new ArrayList<>(peers);
        if (leader != null) {
            all.add(leader);
        }
        for (Peer p : all) {
            try {
                p.send("BYE");
            } catch (IOException ignored) {
                // the other side left already
            }
            p.close();
        }
    }

    /** Tests: drops every connection without {@code BYE}, as a killed process would (without halting this one). */
    void abandon() {
        closed = true;
        peers.forEach(Peer::close);
        if (leader != null) {
            leader.close();
        }
    }

    private void fail(String line) {
        if (!closed && failed.compareAndSet(false, true)) {
            onFailure.accept(line);
        }
    }

    // ---- rank 0

    private static RankMonitor startLeader(Communicator comm, Consumer<String> onFailure) throws IOException {
        int size = comm.size();
        byte[] token = new byte[16];
        new SecureRandom().nextBytes(token);
        List<Peer> peers = new ArrayList<>();
        try (ServerSocket server = new ServerSocket()) {
            server.bind(new InetSocketAddress(0), size);
            byte[] invitation = invitation(server.getLocalPort(), token, addresses());
            comm.broadcast(new int[]{invitation.length}, 0, 1, 0);
            comm.broadcast(invitation, 0, invitation.length, 0);
            Peer[] byRank = new Peer[size];
            long deadline = System.nanoTime() + ACCEPT_TIMEOUT_MS * 1_000_000L;
            int accepted = 0;
            while (accepted < size - 1) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    throw new IOException((size - 1 - accepted) + " rank(s) did not connect within "
                            + ACCEPT_TIMEOUT_MS / 1000 + " s");
                }
                server.setSoTimeout((int) Math.min(left, Integer.MAX_VALUE));
                Socket s;
                try {
                    s = server.accept();
                } catch (SocketTimeoutException e) {
                    continue;
                }
                Peer p = authenticate(s, token, size, byRank);
                if (p != null) {
                    byRank[p.rank] = p;
                    peers.add(p);
                    accepted++;
                }
            }
        } catch (IOException | RuntimeException e) {
            peers.forEach(Peer::close);
            throw e;
        }
        peers.sort((a, b) -> Integer.compare(a.rank, b.rank));
        RankMonitor monitor = new RankMonitor(comm, onFailure, List.copyOf(peers), null);
        for (Peer p : peers) {
            Thread.ofPlatform().daemon(true).name("grok1j-monitor-rank-" + p.rank).start(() -> monitor.watch(p));
        }
        return monitor;
    }

    /** Reads a greeting; returns the peer, or null (socket closed) if it is not a rank of this job. */
    private static Peer authenticate(Socket s, byte[] token, int size, Peer[] byRank) {
        try {
            s.setSoTimeout(HELLO_TIMEOUT_MS);
            s.setTcpNoDelay(true);
            DataInputStream in = new DataInputStream(s.getInputStream());
            int magic = in.readInt();
            byte[] got = new byte[16];
            in.readFully(got);
            int rank = in.readInt();
            String host = in.readUTF();
            if (magic != MAGIC || !java.security.MessageDigest.isEqual(got, token) || rank <= 0 || rank >= size
                    || byRank[rank] != null) {
                s.close();
                return null;
            }
            s.setSoTimeout(0);
            Peer p = new Peer(s, rank, host);
            p.send("OK");
            return p;
        } catch (IOException e) {
            try {
                s.close();
            } catch (IOException ignored) {
                // nothing to do
            }
            return null;
        }
    }

    private void watch(Peer p) {
        try {
            BufferedReader in = new BufferedReader(new InputStreamReader(p.socket.getInputStream(),
                    StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.equals("BYE")) {
                    return;
                }
                if (line.startsWith("ERR ")) {
                    fail("rank " + p.rank + " on host " + p.host + ": " + line.substring(4));
                    return;
                }
            }
        } catch (IOException e) {
            // same as end of stream: the peer is gone
        }
        fail("rank " + p.rank + " on host " + p.host + " stopped unexpectedly (killed or crashed)");
    }

    private static byte[] invitation(int port, byte[] token, List<Inet4Address> addresses) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 + 16 + 4 + 4 * addresses.size());
        b.putInt(MAGIC).putInt(port).put(token).putInt(addresses.size());
        for (Inet4Address a : addresses) {
            b.put(a.getAddress());
        }
        return b.array();
    }

    /** This host's IPv4 addresses: non-loopback ones first (other hosts), then loopback (same host). */
    static List<Inet4Address> addresses() throws IOException {
        List<Inet4Address> outside = new ArrayList<>();
        List<Inet4Address> loopback = new ArrayList<>();
        for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!nif.isUp()) {
                continue;
            }
            for (InetAddress a : Collections.list(nif.getInetAddresses())) {
                if (a instanceof Inet4Address v4) {
                    (v4.isLoopbackAddress() ? loopback : outside).add(v4);
                }
            }
        }
        if (loopback.isEmpty()) {
            loopback.add((Inet4Address) InetAddress.getByAddress(new byte[]{127, 0, 0, 1}));
        }
        outside.addAll(loopback);
        return outside;
    }

    // ---- ranks > 0

    private static RankMonitor startFollower(Communicator comm, Consumer<String> onFailure) throws IOException {
        int[] length = new int[1];
        comm.broadcast(length, 0, 1, 0);
        byte[] invitation = new byte[length[0]];
        comm.broadcast(invitation, 0, invitation.length, 0);
        ByteBuffer b = ByteBuffer.wrap(invitation);
        if (b.getInt() != MAGIC) {
            throw new IOException("rank 0 sent a malformed invitation");
        }
        int port = b.getInt();
        byte[] token = new byte[16];
        b.get(token);
        int n = b.getInt();
        List<String> tried = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] raw = new byte[4];
            b.get(raw);
            InetAddress address = InetAddress.getByAddress(raw);
            Socket s = new Socket();
            try {
                s.connect(new InetSocketAddress(address, port), CONNECT_TIMEOUT_MS);
                s.setTcpNoDelay(true);
                s.setSoTimeout(HELLO_TIMEOUT_MS);
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.writeInt(MAGIC);
                out.write(token);
                out.writeInt(comm.rank());
                out.writeUTF(comm.hostName());
                out.flush();
                BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                        StandardCharsets.UTF_8));
                if (!"OK".equals(in.readLine())) {
                    throw new IOException("not accepted");
                }
                s.setSoTimeout(0);
                Peer leader = new Peer(s, 0, "");
                RankMonitor monitor = new RankMonitor(comm, onFailure, List.of(), leader);
                Thread.ofPlatform().daemon(true).name("grok1j-monitor-rank-0").start(() -> monitor.watchLeader(in));
                return monitor;
            } catch (IOException e) {
                tried.add(address.getHostAddress() + " (" + e.getMessage() + ")");
                s.close();
            }
        }
        throw new IOException("cannot reach rank 0 at port " + port + " on " + String.join(", ", tried));
    }

    /** A follower halts when rank 0's socket ends without BYE: rank 0 is gone, and the job with it. */
    private void watchLeader(BufferedReader in) {
        try {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.equals("BYE")) {
                    return;
                }
            }
        } catch (IOException e) {
            // rank 0 is gone
        }
        if (!closed) {
            Runtime.getRuntime().halt(STATUS_HALT);
        }
    }

    private static final class Peer {
        final Socket socket;
        final int rank;
        final String host;
        private final OutputStream out;

        Peer(Socket socket, int rank, String host) throws IOException {
            this.socket = socket;
            this.rank = rank;
            this.host = host;
            this.out = socket.getOutputStream();
        }

        synchronized void send(String line) throws IOException {
            out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        void close() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    @Override
    public String toString() {
        return "RankMonitor[rank " + comm.rank() + " of " + comm.size() + ", peers "
                + Arrays.toString(peers.stream().mapToInt(p -> p.rank).toArray()) + "]";
    }
}
