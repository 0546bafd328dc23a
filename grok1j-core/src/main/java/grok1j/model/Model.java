package grok1j.model;

import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.generate.GenerationContext;
import grok1j.parallel.Communicator;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.VectorModule;
import grok1j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * An opened Grok-1 model: memory-mapped weights, the tokenizer and the forward pass. The entry point of the Java API:
 *
 * <pre>{@code
 * try (Model model = Model.open(Path.of("grok-1"))) {
 *     GenerationContext ctx = model.newContext();
 *     GenerationResult r = ctx.generate("The answer is", SamplingParams.greedy(16), (id, text) -> System.out.print(text));
 * }
 * }</pre>
 *
 * Thread-safety: the model may be shared; each thread uses its own {@link GenerationContext}. Forward passes of
 * different contexts are serialised on the compute pool.
 */
public final class Model implements AutoCloseable {
    private final ModelFile file;
    private final Tokenizer tokenizer;
    private final Transformer network;

    private Model(ModelFile file, Tokenizer tokenizer, Transformer network) {
        this.file = file;
        this.tokenizer = tokenizer;
        this.network = network;
    }

    /** Opens a checkpoint folder (holding {@code ckpt-0/}, or {@code ckpt-0/} itself) or a GGUF file, with its own tokenizer. */
    public static Model open(Path path) throws IOException {
        VectorModule.require();
        return open(path, null, ThreadPool.shared());
    }

    /**
     * Opens a model. In one process, weights stored in a layout the kernels read slowly are first copied into a
     * faster one when the copy fits in memory ({@link ModelFile#repack(int, int)}: GGUF Q8_0 experts, a rank's
     * slices of them), and
     * the mapped weights that fit in the memory the kernel reports available are read into the mapping before this
     * returns ({@link grok1j.format.Prefetch}, as llama.cpp maps with {@code MAP_POPULATE}); a
     * larger model is read as it is used.
     *
     * @param path      checkpoint folder, {@code ckpt-0/}, or {@code .gguf} file
     * @param tokenizer explicit {@code tokenizer.model}, or null to find one beside the weights (or in the GGUF)
     * @param pool      compute threads
     * @throws IOException with a one-line message naming the file and what is wrong
     * @throws IllegalStateException if the JVM was started without {@code --add-modules jdk.incubator.vector}
     */
    public static Model open(Path path, Path tokenizer, ThreadPool pool) throws IOException {
        return open(path, tokenizer, pool, Communicator.single());
    }

    /**
     * Opens this rank's part of a tensor-parallel model (spec distributed.md §2): every rank opens the same path and
     * keeps views of its own slices. Before returning, the ranks agree: if any rank could not open the model or cut
     * its slices, or opened a model with another {@link ModelFingerprint} than rank 0's, every rank throws, with one
     * line naming the first such rank and its host.
     *
     * @param comm the job's ranks; {@link Communicator#single()} for one process
     * @throws IOException with a one-line message (on every rank alike in a tensor-parallel job)
     */
    public static Model open(Path path, Path tokenizer, ThreadPool pool, Communicator comm) throws IOException {
        return open(path, tokenizer, pool, comm, line -> {});
    }

    /**
     * As {@link #open(Path, Path, ThreadPool, Communicator)}, telling {@code progress} (one line each, no trailing
     * period) before each step of the open that can take minutes on a large model: copying weights into another
     * layout, reading the mapped weights into memory.
     */
    public static Model open(Path path, Path tokenizer, ThreadPool pool, Communicator comm,
            java.util.function.Consumer<String> progress) throws IOException {
        VectorModule.require();
        ModelFile file = null;
        Model model = null;
        String failure = null;
        long fingerprint = 0;
        // the memory every rank of this host sees before any of them copies weights at open (repack below), and how
        // many ranks share it: ranks that each checked only their own copy could over-commit the host together
        long memAvailable = grok1j.format.Prefetch.memAvailable();
        int ranksOnHost = comm.size() > 1 ? ranksOnThisHost(comm) : 1;
        try {
            file = ModelFiles.open(path);
            Tokenizer tok = ModelFiles.tokenizer(file, tokenizer);
            if (tok.vocabSize() != file.weights().config().vocabSize()) {
                throw new IOException("tokenizer has " + tok.vocabSize() + " pieces but the model's vocabulary is "
                        + file.weights().config().vocabSize());
            }
            if (comm.size() > 1) {
                fingerprint = ModelFingerprint.of(file.weights());
            }
            // weights whose file layout the kernels read slowly (GGUF Q8_0, Q6_K, Q4_K experts; a Q6_K unembedding) are copied into a faster one
            // when the copy fits: a tensor-parallel rank copies only its slices
            long copy = file.repackBytes(comm.rank(), comm.size(), ranksOnHost, memAvailable);
            if (copy >= ANNOUNCED_BYTES) {
                progress.accept(String.format("copying %.1f GB of quantized weights into the layout the kernels read "
                        + "fastest (GROK1J_JAVA_OPTS=-D%s=false skips it)", copy / 1e9,
                        grok1j.format.gguf.GgufModel.INTERLEAVE_PROPERTY));
            }
            file.repack(comm.rank(), comm.size(), ranksOnHost, memAvailable);
            model = new Model(file, tok, new Transformer(file.weights(), pool, comm));
            if (comm.size() == 1) {
                // the mapped weights into memory now, if they fit, rather than page by page in the first requests
                // (each expert's first token would fault its pages in); a rank of a tensor-parallel job reads only
                // its slices, so it leaves the file to be read as used
                long read = grok1j.format.Prefetch.bytesThatFit(file.mappings());
                if (read >= ANNOUNCED_BYTES) {
                    progress.accept(String.format("reading %.1f GB of weights into memory", read / 1e9));
                }
                if (read > 0) {
                    grok1j.format.Prefetch.populate(file.mappings(), pool);
                }
            }
        } catch (IOException | RuntimeException e) {
            if (file != null) {
                file.close();
            }
            if (comm.size() == 1) {
                throw e;
            }
            failure = e instanceof java.nio.file.NoSuchFileException ? "no such file or directory: " + e.getMessage()
                    : e.getMessage() == null ? e.toString() : e.getMessage().replace('\n', ' ');
        }
        if (comm.size() > 1) {
            String verdict = agree(comm, failure, fingerprint);
            if (verdict != null) {
                if (model != null) {
                    model.file.close();
                }
                throw new IOException(verdict);
            }
        }
        return model;
    }

    /** Steps of {@link #open} over fewer bytes than this (a second or two) are not announced to its progress. */
    static final long ANNOUNCED_BYTES = 1L << 30;

    /** Bytes of a host name in {@link #ranksOnThisHost}. */
    private static final int HOST = 128;

    /**
     * How many ranks of the job run on this rank's host (by {@link Communicator#hostName()}): the names are gathered
     * to rank 0, which counts them and broadcasts each rank's count. A collective: every rank calls it.
     */
    static int ranksOnThisHost(Communicator comm) {
        byte[] mine = new byte[HOST];
        putString(mine, 0, HOST, comm.hostName());
        byte[] all = comm.rank() == 0 ? new byte[HOST * comm.size()] : null;
        comm.gather(mine, 0, HOST, all, 0, 0);
        int[] counts = new int[comm.size()];
        if (comm.rank() == 0) {
            java.util.Map<String, Integer> perHost = new java.util.HashMap<>();
            String[] hosts = new String[comm.size()];
            for (int r = 0; r < comm.size(); r++) {
                hosts[r] = getString(all, r * HOST, HOST);
                perHost.merge(hosts[r], 1, Integer::sum);
            }
            for (int r = 0; r < comm.size(); r++) {
                counts[r] = perHost.get(hosts[r]);
            }
        }
        comm.broadcast(counts, 0, counts.length, 0);
        return counts[comm.rank()];
    }

    /** Bytes of one rank's status in {@link #agree}: fingerprint, a flag, the host name and a message. */
    private static final int STATUS = 1024;

    /**
     * Gathers every rank's outcome to rank 0, which decides; returns null if every rank opened the same model, else
     * the one-line reason, on every rank.
     */
    private static String agree(Communicator comm, String failure, long fingerprint) {
        byte[] mine = new byte[STATUS];
        java.nio.ByteBuffer.wrap(mine).putLong(fingerprint).put((byte) (failure == null ? 1 : 0));
        putString(mine, 9, 120, comm.hostName());
        putString(mine, 130, STATUS - 130, failure == null ? "" : failure);
        byte[] all = comm.rank() == 0 ? new byte[STATUS * comm.size()] : null;
        comm.gather(mine, 0, STATUS, all, 0, 0);
        byte[] verdict = new byte[STATUS];
        if (comm.rank() == 0) {
            String reason = null;
            long lead = java.nio.ByteBuffer.wrap(all, 0, 8).getLong();
            for (int r = 0; r < comm.size() && reason == null; r++) {
                int o = r * STATUS;
                String host = getString(all, o + 9, 120);
                if (all[o + 8] == 0) {
                    reason = (r == 0 ? "" : "rank " + r + " on " + host + ": ") + getString(all, o + 130, STATUS - 130);
                } else if (java.nio.ByteBuffer.wrap(all, o, 8).getLong() != lead) {
                    reason = "rank " + r + " on " + host + " opened a different model than rank 0 (another checkpoint, "
                            + "quantization or config at that path): every host needs the same files";
                }
            }
            verdict[0] = (byte) (reason == null ? 1 : 0);
            putString(verdict, 1, STATUS - 1, reason == null ? "" : reason);
        }
        comm.broadcast(verdict, 0, STATUS, 0);
        return verdict[0] == 1 ? null : getString(verdict, 1, STATUS - 1);
    }

    /** {@code s} as UTF-8 with a 2-byte length at {@code at}, cut to fit {@code room} bytes. */
    private static void putString(byte[] b, int at, int room, String s) {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(u.length, room - 2);
        b[at] = (byte) (n >> 8);
        b[at + 1] = (byte) n;
        System.arraycopy(u, 0, b, at + 2, n);
    }

    private static String getString(byte[] b, int at, int room) {
        int n = Math.min(((b[at] & 0xFF) << 8) | (b[at + 1] & 0xFF), room - 2);
        return new String(b, at + 2, n, StandardCharsets.UTF_8);
    }

    public GrokConfig config() {
        return network.config();
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The forward pass. */
    public Transformer network() {
        return network;
    }

    /** The opened files (tensor listing, metadata). */
    public ModelFile file() {
        return file;
    }

    /** A new sequence with its own KV cache. */
    public GenerationContext newContext() {
        return new GenerationContext(network, tokenizer);
    }

    /**
     * Releases the memory mappings; on rank 0 of a tensor-parallel job first ends the other ranks'
     * {@link Transformer#follow()}. Contexts of this model must not be used afterwards.
     */
    @Override
    public void close() {
        try {
            network.stopFollowers();
        } finally {
            file.close();
        }
    }
}
