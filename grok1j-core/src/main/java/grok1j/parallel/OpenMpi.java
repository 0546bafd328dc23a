package grok1j.parallel;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Objects;
import java.util.concurrent.locks.LockSupport;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * {@link Communicator} over Open MPI 4.x ({@code libmpi.so.40}), reached through the FFM API: no JNI, no jar
 * (spec distributed.md §3.2). One rank per process, {@code MPI_COMM_WORLD}, launched by {@code mpirun}.
 *
 * <p><b>Threads.</b> MPI is initialised with {@code MPI_THREAD_FUNNELED} on one dedicated platform thread, and that
 * thread makes every MPI call (§3.4.8). A caller hands it the operation through a few fields and a volatile state
 * word: both sides spin briefly ({@code -Dgrok1j.mpi.spinMicros}, default 50 us; 0 when the host has fewer than two
 * cores per local rank plus one) and then park, so a decode step's two all-reduces per layer cost no allocation and
 * no executor. Calls from several threads are serialised.
 *
 * <p><b>Determinism.</b> {@link #allReduceSum} is {@code MPI_Allgather} of the partials followed by adding them in
 * rank order on every rank, not {@code MPI_Allreduce} (whose order depends on the algorithm): every rank ends with
 * the bit-identical vector (§2.4).
 *
 * <p><b>Buffers.</b> Off-heap, allocated once and grown on demand; the Java arrays are copied in and out (24 KiB per
 * activation: well under a microsecond).
 *
 * <p><b>Errors.</b> {@code MPI_COMM_WORLD} gets {@code MPI_ERRORS_RETURN}, and every nonzero return code becomes a
 * {@link CommunicatorException} with one line naming the call. Open MPI's launcher usually ends the whole job when
 * a rank dies before any call returns; {@link RankMonitor} names the rank that died.
 *
 * <p><b>Security.</b> MPI traffic is neither authenticated nor encrypted: run on a private network only.
 */
public final class OpenMpi implements Communicator {
    /** The runtime library of Open MPI 4.x (Debian package {@code libopenmpi3}, pulled by {@code openmpi-bin}). */
    public static final String LIBRARY = "libmpi.so.40";

    private static final int MPI_THREAD_FUNNELED = 1;
    /** Open MPI's MPI_MAX_PROCESSOR_NAME, MPI_MAX_ERROR_STRING and MPI_MAX_LIBRARY_VERSION_STRING are 256. */
    private static final int STRING_BYTES = 1024;

    // operations handed to the MPI thread
    private static final int OP_ALL_REDUCE = 1, OP_BROADCAST_INT = 2, OP_BROADCAST_BYTE = 3, OP_GATHER_FLOAT = 4,
            OP_GATHER_BYTE = 5, OP_BARRIER = 6, OP_FINALIZE = 7, OP_INIT = 8;
    // states of the hand-off word
    private static final int IDLE = 0, REQUESTED = 1, DONE = 2;

    private static volatile OpenMpi instance;

    private final Native mpi;
    private final long spinNanos;
    private final Thread thread;
    private volatile int state = IDLE;
    private volatile boolean threadParked;
    private volatile boolean callerParked;
    private volatile Thread caller;
    // the request and its result: written before the volatile store of state, read after the volatile load
    private int op;
    private Object data;
    private int offset;
    private int count;
    private int root;
    private Object recv;
    private int recvOffset;
    private RuntimeException error;

    private int rank;
    private int size;
    private String hostName;
    private boolean closed;

    // owned by the MPI thread
    private MemorySegment send = MemorySegment.NULL;
    private MemorySegment gathered = MemorySegment.NULL;

    /**
     * True when this process was started by Open MPI's {@code mpirun} (it sets {@code OMPI_COMM_WORLD_SIZE} and
     * {@code OMPI_COMM_WORLD_RANK}).
     */
    public static boolean isLaunchedByMpirun() {
        return System.getenv("OMPI_COMM_WORLD_SIZE") != null && System.getenv("OMPI_COMM_WORLD_RANK") != null;
    }

    /** The world size {@code mpirun} announced, or 1 outside mpirun (or if the variable is not a number). */
    public static int launchedSize() {
        try {
            return isLaunchedByMpirun() ? Integer.parseInt(System.getenv("OMPI_COMM_WORLD_SIZE").strip()) : 1;
        } catch (NumberFormatException e) {
            return 1;
        }
    }

    /**
     * Loads Open MPI and initialises it on a new dedicated thread. MPI can be initialised once per process: a second
     * call after {@link #close()} fails.
     *
     * @throws CommunicatorException with one line when the library is missing ("install Open MPI"), is not Open MPI,
     *     or {@code MPI_Init_thread} fails
     */
    public static synchronized OpenMpi init() {
        if (instance != null) {
            throw new CommunicatorException("MPI is already initialised in this process (it can be initialised once)");
        }
        OpenMpi mpi = new OpenMpi(Native.load());
        instance = mpi;
        return mpi;
    }

    /** The {@code MPI_Get_library_version} string of the installed library, or a one-line error as {@link #init}. */
    public static String libraryVersion() {
        return Native.load().version;
    }

    private OpenMpi(Native mpi) {
        this.mpi = mpi;
        this.spinNanos = Long.getLong("grok1j.mpi.spinMicros", defaultSpinMicros()) * 1000;
        this.thread = Thread.ofPlatform().name("grok1j-mpi").daemon(true).unstarted(this::serve);
        thread.start();
        submit(OP_INIT);
    }

    /**
     * Spinning pays only with a spare core for each spinning thread: with fewer than two cores per rank on this host
     * (oversubscribed, as on a 2-core CI box) the spinning caller would steal the MPI thread's core, so park at once.
     */
    private static long defaultSpinMicros() {
        int localRanks = 1;
        try {
            String local = System.getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
            localRanks = local == null ? 1 : Math.max(1, Integer.parseInt(local.strip()));
        } catch (NumberFormatException e) {
            // keep 1
        }
        return Runtime.getRuntime().availableProcessors() >= 2 * localRanks + 1 ? 50 : 0;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public String hostName() {
        return hostName;
    }

    @Override
    public void allReduceSum(float[] data, int offset, int count) {
        Objects.checkFromIndexSize(offset, count, data.length);
        request(OP_ALL_REDUCE, data, offset, count, 0, null, 0);
    }

    @Override
    public void broadcast(int[] data, int offset, int count, int root) {
        Objects.checkFromIndexSize(offset, count, data.length);
        request(OP_BROADCAST_INT, data, offset, count, checkRoot(root), null, 0);
    }

    @Override
    public void broadcast(byte[] data, int offset, int count, int root) {
        Objects.checkFromIndexSize(offset, count, data.length);
        request(OP_BROADCAST_BYTE, data, offset, count, checkRoot(root), null, 0);
    }

    @Override
    public void gather(float[] send, int sendOffset, int count, float[] recv, int recvOffset, int root) {
        Objects.checkFromIndexSize(sendOffset, count, send.length);
        if (rank == checkRoot(root)) {
            Objects.checkFromIndexSize(recvOffset, Math.multiplyExact(count, size), recv.length);
        }
        request(OP_GATHER_FLOAT, send, sendOffset, count, root, recv, recvOffset);
    }

    @Override
    public void gather(byte[] send, int sendOffset, int count, byte[] recv, int recvOffset, int root) {
        Objects.checkFromIndexSize(sendOffset, count, send.length);
        if (rank == checkRoot(root)) {
            Objects.checkFromIndexSize(recvOffset, Math.multiplyExact(count, size), recv.length);
        }
        request(OP_GATHER_BYTE, send, sendOffset, count, root, recv, recvOffset);
    }

    @Override
    public void barrier() {
        request(OP_BARRIER, null, 0, 0, 0, null, 0);
    }

    /** {@code MPI_Finalize} (collective: every rank calls it). Later calls of this method do nothing. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        try {
            submit(OP_FINALIZE);
        } finally {
            closed = true;
        }
    }

    private int checkRoot(int root) {
        if (root < 0 || root >= size) {
            throw new IllegalArgumentException("root " + root + " outside [0, " + size + ")");
        }
        return root;
    }

    private synchronized void request(int op, Object data, int offset, int count, int root, Object recv,
                                      int recvOffset) {
        if (closed) {
            throw new CommunicatorException("MPI is finalized: no collective may follow close()");
        }
        this.data = data;
        this.offset = offset;
        this.count = count;
        this.root = root;
        this.recv = recv;
        this.recvOffset = recvOffset;
        try {
            submit(op);
        } finally {
            this.data = null;
            this.recv = null;
        }
    }

    /** Hands {@code op} to the MPI thread and waits for it: spin, then park. */
    private void submit(int op) {
        this.op = op;
        this.error = null;
        caller = Thread.currentThread();
        state = REQUESTED;
        if (threadParked) {
            LockSupport.unpark(thread);
        }
        long start = System.nanoTime();
        int spins = 0;
        while (state != DONE) {
            if ((++spins & 63) != 0 || System.nanoTime() - start < spinNanos) {
                Thread.onSpinWait();
            } else {
                callerParked = true;
                if (state != DONE) {
                    LockSupport.park(this);
                }
                callerParked = false;
            }
        }
        state = IDLE;
        RuntimeException e = error;
        if (e != null) {
            error = null;
            throw e;
        }
    }

    /** The MPI thread: waits for a request (spin, then park), runs it, signals the caller. */
    private void serve() {
        while (true) {
            long start = System.nanoTime();
            int spins = 0;
            while (state != REQUESTED) {
                if ((++spins & 63) != 0 || System.nanoTime() - start < spinNanos) {
                    Thread.onSpinWait();
                } else {
                    threadParked = true;
                    if (state != REQUESTED) {
                        LockSupport.park(this);
                    }
                    threadParked = false;
                }
            }
            int current = op;
            try {
                run(current);
            } catch (RuntimeException | Error e) {
                error = e instanceof RuntimeException re ? re
                        : new CommunicatorException("MPI thread failed: " + e, e);
            }
            Thread waiting = caller;
            state = DONE;
            if (callerParked) {
                LockSupport.unpark(waiting);
            }
            if (current == OP_FINALIZE || (current == OP_INIT && error != null)) {
                return;
            }
        }
    }

    private void run(int op) {
        switch (op) {
            case OP_INIT -> {
                mpi.initThread();
                rank = mpi.commRank();
                size = mpi.commSize();
                hostName = mpi.processorName();
            }
            case OP_ALL_REDUCE -> allReduce((float[]) data, offset, count);
            case OP_BROADCAST_INT -> {
                long bytes = 4L * count;
                MemorySegment buf = sendBuffer(bytes);
                if (rank == root) {
                    MemorySegment.copy((int[]) data, offset, buf, JAVA_INT, 0, count);
                }
                mpi.bcast(buf, count, mpi.mpiInt, root);
                if (rank != root) {
                    MemorySegment.copy(buf, JAVA_INT, 0, (int[]) data, offset, count);
                }
            }
            case OP_BROADCAST_BYTE -> {
                MemorySegment buf = sendBuffer(count);
                if (rank == root) {
                    MemorySegment.copy((byte[]) data, offset, buf, JAVA_BYTE, 0, count);
                }
                mpi.bcast(buf, count, mpi.mpiByte, root);
                if (rank != root) {
                    MemorySegment.copy(buf, JAVA_BYTE, 0, (byte[]) data, offset, count);
                }
            }
            case OP_GATHER_FLOAT -> {
                MemorySegment in = sendBuffer(4L * count);
                MemorySegment.copy((float[]) data, offset, in, JAVA_FLOAT, 0, count);
                MemorySegment out = rank == root ? gatheredBuffer(4L * count * size) : MemorySegment.NULL;
                mpi.gather(in, count, mpi.mpiFloat, out, root);
                if (rank == root) {
                    MemorySegment.copy(out, JAVA_FLOAT, 0, (float[]) recv, recvOffset, count * size);
                }
            }
            case OP_GATHER_BYTE -> {
                MemorySegment in = sendBuffer(count);
                MemorySegment.copy((byte[]) data, offset, in, JAVA_BYTE, 0, count);
                MemorySegment out = rank == root ? gatheredBuffer((long) count * size) : MemorySegment.NULL;
                mpi.gather(in, count, mpi.mpiByte, out, root);
                if (rank == root) {
                    MemorySegment.copy(out, JAVA_BYTE, 0, (byte[]) recv, recvOffset, count * size);
                }
            }
            case OP_BARRIER -> mpi.barrier();
            case OP_FINALIZE -> mpi.finalizeMpi();
            default -> throw new IllegalStateException("unknown operation " + op);
        }
    }

    /** Allgather of the partials, then {@code ((p0 + p1) + p2) + ...} in rank order on every rank. */
    private void allReduce(float[] data, int offset, int count) {
        long bytes = 4L * count;
        MemorySegment in = sendBuffer(bytes);
        MemorySegment.copy(data, offset, in, JAVA_FLOAT, 0, count);
        MemorySegment all = gatheredBuffer(bytes * size);
        mpi.allgather(in, count, mpi.mpiFloat, all);
        MemorySegment.copy(all, JAVA_FLOAT, 0, data, offset, count);
        for (int r = 1; r < size; r++) {
            long base = (long) r * count;
            for (int i = 0; i < count; i++) {
                data[offset + i] += all.getAtIndex(JAVA_FLOAT, base + i);
            }
        }
    }

    private MemorySegment sendBuffer(long bytes) {
        if (send.byteSize() < bytes) {
            send = Arena.ofAuto().allocate(grow(bytes), 64);
        }
        return send;
    }

    private MemorySegment gatheredBuffer(long bytes) {
        if (gathered.byteSize() < bytes) {
            gathered = Arena.ofAuto().allocate(grow(bytes), 64);
        }
        return gathered;
    }

    private static long grow(long bytes) {
        return Math.max(bytes, 64 * 1024);
    }

    /** The library's functions and predefined handles (the addresses of exported globals, §3.2). */
    static final class Native {
        private static final Linker LINKER = Linker.nativeLinker();

        final String version;
        final MemorySegment commWorld;
        final MemorySegment mpiFloat;
        final MemorySegment mpiInt;
        final MemorySegment mpiByte;
        private final MemorySegment errorsReturn;
        private final MethodHandle initThread;
        private final MethodHandle commRank;
        private final MethodHandle commSize;
        private final MethodHandle commSetErrhandler;
        private final MethodHandle allgather;
        private final MethodHandle bcast;
        private final MethodHandle gather;
        private final MethodHandle barrier;
        private final MethodHandle finalizeMpi;
        private final MethodHandle getProcessorName;
        private final MethodHandle errorString;
        private final Arena arena = Arena.ofAuto();
        /** An int out-parameter, used only on the MPI thread. */
        private final MemorySegment intOut = arena.allocate(JAVA_INT);

        static Native load() {
            return load(LIBRARY);
        }

        /** Loads {@code library} (a name the dynamic linker resolves, or a path), checking it is Open MPI. */
        static Native load(String library) {
            SymbolLookup lookup;
            try {
                lookup = SymbolLookup.libraryLookup(library, Arena.global());
            } catch (IllegalArgumentException e) {
                throw new CommunicatorException("cannot load " + library + ": install Open MPI 4 on every host"
                        + " (Debian/Ubuntu: apt-get install openmpi-bin)");
            }
            if (lookup.find("MPI_Get_library_version").isEmpty() || lookup.find("ompi_mpi_comm_world").isEmpty()) {
                throw new CommunicatorException("only Open MPI 4 is supported, and " + library
                        + " is not Open MPI (install openmpi-bin)");
            }
            return new Native(lookup, library);
        }

        private Native(SymbolLookup lookup, String library) {
            MethodHandle getLibraryVersion = function(lookup, "MPI_Get_library_version",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            MemorySegment text = arena.allocate(STRING_BYTES);
            version = callString(getLibraryVersion, "MPI_Get_library_version", text);
            if (!version.contains("Open MPI")) {
                throw new CommunicatorException("only Open MPI 4 is supported, and " + library + " is "
                        + version.lines().findFirst().orElse("unknown").strip());
            }
            commWorld = symbol(lookup, "ompi_mpi_comm_world");
            mpiFloat = symbol(lookup, "ompi_mpi_float");
            mpiInt = symbol(lookup, "ompi_mpi_int");
            mpiByte = symbol(lookup, "ompi_mpi_byte");
            errorsReturn = symbol(lookup, "ompi_mpi_errors_return");
            initThread = function(lookup, "MPI_Init_thread",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
            commRank = function(lookup, "MPI_Comm_rank", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            commSize = function(lookup, "MPI_Comm_size", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            commSetErrhandler = function(lookup, "MPI_Comm_set_errhandler",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            allgather = function(lookup, "MPI_Allgather", FunctionDescriptor.of(JAVA_INT,
                    ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
            bcast = function(lookup, "MPI_Bcast",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
            gather = function(lookup, "MPI_Gather", FunctionDescriptor.of(JAVA_INT,
                    ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
            barrier = function(lookup, "MPI_Barrier", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            finalizeMpi = function(lookup, "MPI_Finalize", FunctionDescriptor.of(JAVA_INT));
            getProcessorName = function(lookup, "MPI_Get_processor_name",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            errorString = function(lookup, "MPI_Error_string",
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        }

        void initThread() {
            MemorySegment provided = arena.allocate(JAVA_INT);
            int code;
            try {
                code = (int) initThread.invokeExact(MemorySegment.NULL, MemorySegment.NULL, MPI_THREAD_FUNNELED,
                        provided);
            } catch (Throwable e) {
                throw failed("MPI_Init_thread", e);
            }
            check("MPI_Init_thread", code);
            if (provided.get(JAVA_INT, 0) < MPI_THREAD_FUNNELED) {
                throw new CommunicatorException("MPI_Init_thread: the library provides thread level "
                        + provided.get(JAVA_INT, 0) + ", grok1j needs MPI_THREAD_FUNNELED (1)");
            }
            check("MPI_Comm_set_errhandler",
                    call2(commSetErrhandler, "MPI_Comm_set_errhandler", commWorld, errorsReturn));
        }

        int commRank() {
            check("MPI_Comm_rank", call2(commRank, "MPI_Comm_rank", commWorld, intOut));
            return intOut.get(JAVA_INT, 0);
        }

        int commSize() {
            check("MPI_Comm_size", call2(commSize, "MPI_Comm_size", commWorld, intOut));
            return intOut.get(JAVA_INT, 0);
        }

        String processorName() {
            String name = callString(getProcessorName, "MPI_Get_processor_name", arena.allocate(STRING_BYTES));
            return name.isBlank() ? HostNames.local() : name.strip();
        }

        void allgather(MemorySegment in, int count, MemorySegment type, MemorySegment out) {
            int code;
            try {
                code = (int) allgather.invokeExact(in, count, type, out, count, type, commWorld);
            } catch (Throwable e) {
                throw failed("MPI_Allgather", e);
            }
            check("MPI_Allgather", code);
        }

        void bcast(MemorySegment buf, int count, MemorySegment type, int root) {
            int code;
            try {
                code = (int) bcast.invokeExact(buf, count, type, root, commWorld);
            } catch (Throwable e) {
                throw failed("MPI_Bcast", e);
            }
            check("MPI_Bcast", code);
        }

        void gather(MemorySegment in, int count, MemorySegment type, MemorySegment out, int root) {
            int code;
            try {
                code = (int) gather.invokeExact(in, count, type, out, count, type, root, commWorld);
            } catch (Throwable e) {
                throw failed("MPI_Gather", e);
            }
            check("MPI_Gather", code);
        }

        void barrier() {
            int code;
            try {
                code = (int) barrier.invokeExact(commWorld);
            } catch (Throwable e) {
                throw failed("MPI_Barrier", e);
            }
            check("MPI_Barrier", code);
        }

        void finalizeMpi() {
            int code;
            try {
                code = (int) finalizeMpi.invokeExact();
            } catch (Throwable e) {
                throw failed("MPI_Finalize", e);
            }
            check("MPI_Finalize", code);
        }

        private String callString(MethodHandle function, String name, MemorySegment text) {
            MemorySegment length = arena.allocate(JAVA_INT);
            check(name, call2(function, name, text, length));
            int n = Math.clamp(length.get(JAVA_INT, 0), 0, STRING_BYTES - 1);
            text.set(JAVA_BYTE, n, (byte) 0);
            return text.getString(0);
        }

        private void check(String call, int code) {
            if (code != 0) {
                throw new CommunicatorException(call + " failed: error " + code + describe(code));
            }
        }

        private String describe(int code) {
            try {
                MemorySegment text = arena.allocate(STRING_BYTES);
                MemorySegment length = arena.allocate(JAVA_INT);
                if ((int) errorString.invokeExact(code, text, length) == 0) {
                    int n = Math.clamp(length.get(JAVA_INT, 0), 0, STRING_BYTES - 1);
                    text.set(JAVA_BYTE, n, (byte) 0);
                    return " (" + text.getString(0).strip().replace('\n', ' ') + ")";
                }
            } catch (Throwable ignored) {
                // the code alone still names the failure
            }
            return "";
        }

        /** Calls a function of two pointer arguments returning an error code. */
        private static int call2(MethodHandle function, String name, MemorySegment a, MemorySegment b) {
            try {
                return (int) function.invokeExact(a, b);
            } catch (Throwable e) {
                throw failed(name, e);
            }
        }

        private static RuntimeException failed(String call, Throwable e) {
            return e instanceof RuntimeException re ? re : new CommunicatorException(call + " failed: " + e, e);
        }

        private static MemorySegment symbol(SymbolLookup lookup, String name) {
            return lookup.find(name).orElseThrow(() -> new CommunicatorException(
                    LIBRARY + " has no symbol " + name + ": only Open MPI 4.x is supported"));
        }

        private static MethodHandle function(SymbolLookup lookup, String name, FunctionDescriptor descriptor) {
            return LINKER.downcallHandle(symbol(lookup, name), descriptor);
        }
    }
}
