package grok1j.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * Keys and values of prompt prefixes shared by all requests: blocks of {@link #BLOCK} positions, each keyed by the
 * whole token prefix it ends (a hashed chain: a block's key mixes its parent's key with its own tokens; a hit also
 * compares the tokens, so a hash collision can never serve another prefix). A request copies the longest cached
 * prefix of its prompt into its own {@link KvCache} ({@link #lookup}) and prefills only the rest; once its prompt is
 * computed, the prompt's whole blocks are added ({@link #insert}).
 *
 * <p>Bit-identical to a cold run: only prompt positions are cached, and prompt rows have the same arithmetic however
 * the prompt is cut ({@link Transformer.Step#prompt()}), so a remainder prefilled after a cached prefix gives the
 * keys, values and logits a cold run gives. Generated tokens are never cached (a cold run would compute them as
 * prompt rows, with other arithmetic).
 *
 * <p>Blocks are read-only once stored and are copied into a sequence's cache (the attention reads one contiguous
 * array per sequence), so evicting a block can never change a running sequence. A {@link Lease} pins the blocks a
 * running sequence came from (reference counts) so that they stay while it runs. Eviction is least recently used
 * among unpinned blocks without cached children, within the byte budget; with a spill folder an evicted block is
 * written there and read back when a later prompt needs it, verified by a CRC-32C checksum, the model's
 * {@link ModelFingerprint} and its full token prefix (a file that fails any check is ignored and deleted).
 *
 * <p>Holds one rank's KV heads. Thread-safety: every method is synchronized.
 */
public final class PrefixCache {
    /** Positions per block. */
    public static final int BLOCK = 16;
    private static final int MAGIC = 0x474B5631; // "GKV1"

    private final int layers;
    private final int rowWidth;
    private final long budget;
    private final long blockBytes;
    private final Path spillDir;
    private final long fingerprint;
    /** All blocks by key, least recently used first. */
    private final LinkedHashMap<Long, Block> blocks = new LinkedHashMap<>(64, 0.75f, true);
    private final Stats stats = new Stats();

    /** One stored block: positions {@code [index * BLOCK, (index + 1) * BLOCK)} of the prefix its key names. */
    private static final class Block {
        final long key;
        final Block parent;
        final int[] tokens;
        final float[][] keys;
        final float[][] values;
        int refs;
        int children;

        Block(long key, Block parent, int[] tokens, float[][] keys, float[][] values) {
            this.key = key;
            this.parent = parent;
            this.tokens = tokens;
            this.keys = keys;
            this.values = values;
        }
    }

    /** Counters since start; a snapshot. */
    public static final class Stats {
        /** Prompt tokens looked up, and of those found in the cache (RAM or spill). */
        public long queriedTokens, hitTokens;
        /** Lookups that found at least one block, and those that found none. */
        public long hits, misses;
        public long evictions, spillWrites, spillReads, spillRejected;
        /** Blocks stored, blocks pinned by running sequences, and their bytes. */
        public long blocks, blocksInUse, bytes, budgetBytes;

        Stats copy() {
            Stats s = new Stats();
            s.queriedTokens = queriedTokens;
            s.hitTokens = hitTokens;
            s.hits = hits;
            s.misses = misses;
            s.evictions = evictions;
            s.spillWrites = spillWrites;
            s.spillReads = spillReads;
            s.spillRejected = spillRejected;
            s.blocks = blocks;
            s.blocksInUse = blocksInUse;
            s.bytes = bytes;
            s.budgetBytes = budgetBytes;
            return s;
        }
    }

    /** The blocks a sequence's cached prefix came from, pinned until {@link #close()}. */
    public final class Lease implements AutoCloseable {
        private List<Block> held;
        private final int tokens;

        private Lease(List<Block> held) {
            this.held = held;
            this.tokens = held.size() * BLOCK;
        }

        /** Prompt positions copied from the cache. */
        public int tokens() {
            return tokens;
        }

        /** Unpins the blocks (idempotent). */
        @Override
        public void close() {
            synchronized (PrefixCache.this) {
                if (held != null) {
                    for (Block b : held) {
                        if (--b.refs == 0) {
                            stats.blocksInUse--;
                        }
                    }
                    held = null;
                }
            }
        }
    }

    /**
     * @param network     the model whose caches this serves (its KV-head share on this rank)
     * @param budgetBytes RAM for blocks, at least one block's worth to store anything ({@link #blockBytes})
     * @param spillDir    folder for evicted blocks (created; a sub-folder per model fingerprint), or null for none
     * @param fingerprint the model's {@link ModelFingerprint}: spilled blocks of another model are never read
     * @throws IOException if the spill folder cannot be created
     * @throws IllegalArgumentException for a tensor-parallel model: the other ranks would have to mirror every
     *                                  lookup and insertion on their KV heads, which they do not yet
     */
    public PrefixCache(Transformer network, long budgetBytes, Path spillDir, long fingerprint) throws IOException {
        this(layersOf(network), network.newCache().rowWidth(), budgetBytes, spillDir, fingerprint);
    }

    private static int layersOf(Transformer network) {
        if (network.communicator().size() > 1) {
            throw new IllegalArgumentException("the prefix cache does not work under mpirun yet: the other ranks would "
                    + "have to mirror its lookups on their KV heads");
        }
        return network.config().layers();
    }

    PrefixCache(int layers, int rowWidth, long budgetBytes, Path spillDir, long fingerprint) throws IOException {
        if (budgetBytes < 0) {
            throw new IllegalArgumentException("the prefix cache budget must be >= 0 bytes, got " + budgetBytes);
        }
        this.layers = layers;
        this.rowWidth = rowWidth;
        this.budget = budgetBytes;
        this.blockBytes = blockBytes(layers, rowWidth);
        this.fingerprint = fingerprint;
        this.spillDir = spillDir == null ? null : spillDir.resolve(String.format("%016x", fingerprint));
        if (this.spillDir != null) {
            Files.createDirectories(this.spillDir);
        }
        stats.budgetBytes = budgetBytes;
    }

    /** RAM one block takes: keys and values of {@link #BLOCK} positions in every layer, float32, plus its tokens. */
    public static long blockBytes(int layers, int rowWidth) {
        return 2L * layers * BLOCK * rowWidth * Float.BYTES + 4L * BLOCK;
    }

    /** RAM one block of {@code network}'s caches takes (this rank's KV heads). */
    public static long blockBytes(Transformer network) {
        return blockBytes(network.config().layers(), network.newCache().rowWidth());
    }

    /** The block size in bytes of this cache. */
    public long blockBytes() {
        return blockBytes;
    }

    /**
     * Copies the longest cached prefix of {@code prompt[0, limit)} (whole blocks) into {@code into}, which must be
     * empty, and pins its blocks.
     *
     * @param limit at most this many positions (a prompt's last token must still run, for its logits)
     * @return the lease; {@link Lease#tokens()} positions are now in {@code into}
     */
    public synchronized Lease lookup(int[] prompt, int limit, KvCache into) {
        if (into.length() != 0) {
            throw new IllegalArgumentException("the cache to fill holds " + into.length() + " positions, expected none");
        }
        if (into.rowWidth() != rowWidth) {
            throw new IllegalArgumentException("a KV cache of width " + into.rowWidth() + " given to a prefix cache of " + rowWidth);
        }
        stats.queriedTokens += prompt.length;
        List<Block> found = new ArrayList<>();
        Block parent = null;
        long key = 0;
        for (int i = 0; (i + 1) * BLOCK <= Math.min(limit, prompt.length); i++) {
            key = chain(key, prompt, i * BLOCK);
            Block b = blocks.get(key); // also marks it recently used
            if (b == null || b.parent != parent || !Arrays.equals(b.tokens, 0, BLOCK, prompt, i * BLOCK, (i + 1) * BLOCK)) {
                b = b == null ? readSpill(key, parent, prompt, i) : null;
                if (b == null) {
                    break;
                }
            }
            found.add(b);
            parent = b;
        }
        for (Block b : found) {
            if (b.refs++ == 0) {
                stats.blocksInUse++;
            }
            into.append(b.tokens, b.keys, b.values, BLOCK);
        }
        stats.hitTokens += (long) found.size() * BLOCK;
        if (found.isEmpty()) {
            stats.misses++;
        } else {
            stats.hits++;
        }
        return new Lease(found);
    }

    /**
     * Stores the whole blocks of {@code prompt[0, upTo)} that are not cached yet, copied from {@code from}, which
     * holds these positions computed as prompt rows. Stops at the first block that does not fit the budget.
     *
     * @throws IllegalArgumentException if {@code from} does not hold those tokens
     */
    public synchronized void insert(int[] prompt, int upTo, KvCache from) {
        int n = Math.min(upTo, from.length());
        for (int p = 0; p < n; p++) {
            if (from.token(p) != prompt[p]) {
                throw new IllegalArgumentException("the KV cache holds token " + from.token(p) + " at position " + p
                        + ", the prompt " + prompt[p]);
            }
        }
        Block parent = null;
        long key = 0;
        for (int i = 0; (i + 1) * BLOCK <= n; i++) {
            key = chain(key, prompt, i * BLOCK);
            Block b = blocks.get(key);
            if (b != null && (b.parent != parent || !Arrays.equals(b.tokens, 0, BLOCK, prompt, i * BLOCK, (i + 1) * BLOCK))) {
                return; // a hash collision with another prefix: leave that one be
            }
            if (b == null) {
                if (!makeRoom(parent)) {
                    return;
                }
                float[][] k = new float[layers][], v = new float[layers][];
                for (int l = 0; l < layers; l++) {
                    k[l] = Arrays.copyOfRange(from.keys(l), i * BLOCK * rowWidth, (i + 1) * BLOCK * rowWidth);
                    v[l] = Arrays.copyOfRange(from.values(l), i * BLOCK * rowWidth, (i + 1) * BLOCK * rowWidth);
                }
                b = store(key, parent, Arrays.copyOfRange(prompt, i * BLOCK, (i + 1) * BLOCK), k, v);
            }
            parent = b;
        }
    }

    /** A snapshot of the counters. */
    public synchronized Stats stats() {
        return stats.copy();
    }

    /** The RAM budget in bytes. */
    public long budgetBytes() {
        return budget;
    }

    // ---------------------------------------------------------------- internals

    private Block store(long key, Block parent, int[] tokens, float[][] k, float[][] v) {
        Block b = new Block(key, parent, tokens, k, v);
        blocks.put(key, b);
        if (parent != null) {
            parent.children++;
        }
        stats.blocks++;
        stats.bytes += blockBytes;
        return b;
    }

    /** Evicts least recently used blocks until one more fits; never {@code keep} (about to get a child). */
    private boolean makeRoom(Block keep) {
        while (stats.bytes + blockBytes > budget) {
            Block victim = null;
            for (Iterator<Block> it = blocks.values().iterator(); it.hasNext(); ) {
                Block b = it.next();
                if (b.refs == 0 && b.children == 0 && b != keep) {
                    victim = b;
                    it.remove();
                    break;
                }
            }
            if (victim == null) {
                return false;
            }
            if (victim.parent != null) {
                victim.parent.children--;
            }
            stats.blocks--;
            stats.bytes -= blockBytes;
            stats.evictions++;
            writeSpill(victim);
        }
        return true;
    }

    /** Key of the block of {@code tokens[from, from + BLOCK)} after the prefix whose key is {@code parent}. */
    static long chain(long parent, int[] tokens, int from) {
        long h = parent ^ 0x9E3779B97F4A7C15L;
        for (int i = from; i < from + BLOCK; i++) {
            h = (h ^ tokens[i]) * 0x100000001B3L;
            h ^= h >>> 29;
        }
        return h;
    }

    private Path spillFile(long key) {
        return spillDir.resolve(String.format("%016x.kv", key));
    }

    /** Header ints: magic, layers, row width, block, prefix length; then the fingerprint (long). */
    private static final int HEADER_BYTES = 5 * 4 + 8;

    /** Writes an evicted block with its whole token prefix; failures only cost the spill. */
    private void writeSpill(Block b) {
        if (spillDir == null) {
            return;
        }
        int depth = 0;
        for (Block p = b; p != null; p = p.parent) {
            depth++;
        }
        int prefix = depth * BLOCK;
        int[] tokens = new int[prefix];
        int at = prefix;
        for (Block p = b; p != null; p = p.parent) {
            at -= BLOCK;
            System.arraycopy(p.tokens, 0, tokens, at, BLOCK);
        }
        ByteBuffer buf = ByteBuffer.allocate(HEADER_BYTES + 4 * prefix + 2 * layers * BLOCK * rowWidth * 4 + 4)
                .order(ByteOrder.LITTLE_ENDIAN);
        buf.putInt(MAGIC).putInt(layers).putInt(rowWidth).putInt(BLOCK).putInt(prefix).putLong(fingerprint);
        for (int t : tokens) {
            buf.putInt(t);
        }
        for (int l = 0; l < layers; l++) {
            for (float f : b.keys[l]) {
                buf.putFloat(f);
            }
            for (float f : b.values[l]) {
                buf.putFloat(f);
            }
        }
        CRC32C crc = new CRC32C();
        crc.update(buf.array(), 0, buf.position());
        buf.putInt((int) crc.getValue());
        Path file = spillFile(b.key);
        Path tmp = spillDir.resolve(file.getFileName() + ".tmp");
        try {
            Files.write(tmp, buf.array());
            try {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            stats.spillWrites++;
        } catch (IOException e) {
            System.getLogger(PrefixCache.class.getName()).log(System.Logger.Level.WARNING,
                    "could not spill a prefix-cache block to " + file + ": " + e.getMessage());
        }
    }

    /**
     * Block {@code index} of {@code prompt} from the spill folder, back in RAM if it verifies and fits; null when
     * absent, damaged, of another model or another prefix (then deleted), or when it does not fit.
     */
    private Block readSpill(long key, Block parent, int[] prompt, int index) {
        if (spillDir == null) {
            return null;
        }
        Path file = spillFile(key);
        byte[] bytes;
        try {
            if (!Files.isRegularFile(file)) {
                return null;
            }
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            return null;
        }
        int prefix = (index + 1) * BLOCK;
        int payload = 2 * layers * BLOCK * rowWidth * 4;
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        boolean ok = bytes.length == HEADER_BYTES + 4 * prefix + payload + 4;
        if (ok) {
            CRC32C crc = new CRC32C();
            crc.update(bytes, 0, bytes.length - 4);
            ok = (int) crc.getValue() == buf.getInt(bytes.length - 4)
                    && buf.getInt(0) == MAGIC && buf.getInt(4) == layers && buf.getInt(8) == rowWidth
                    && buf.getInt(12) == BLOCK && buf.getInt(16) == prefix && buf.getLong(20) == fingerprint;
        }
        for (int t = 0; ok && t < prefix; t++) {
            ok = buf.getInt(HEADER_BYTES + 4 * t) == prompt[t];
        }
        if (!ok) {
            stats.spillRejected++;
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // it stays ignored: every read checks again
            }
            return null;
        }
        if (!makeRoom(parent)) {
            return null;
        }
        buf.position(HEADER_BYTES + 4 * prefix);
        float[][] k = new float[layers][BLOCK * rowWidth], v = new float[layers][BLOCK * rowWidth];
        for (int l = 0; l < layers; l++) {
            buf.asFloatBuffer().get(k[l]);
            buf.position(buf.position() + 4 * k[l].length);
            buf.asFloatBuffer().get(v[l]);
            buf.position(buf.position() + 4 * v[l].length);
        }
        stats.spillReads++;
        return store(key, parent, Arrays.copyOfRange(prompt, index * BLOCK, prefix), k, v);
    }
}
