package grok1j.model;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Per-sequence key/value cache (spec §3.6 step 3, §3.9): for every layer the post-RoPE keys and the values of
 * every position so far, float32, {@code [positions, kvHeads * headDim]} per layer, plus the token ids (the model
 * masks keys whose token is the padding id). Storage grows on demand up to the context length, so a short
 * conversation does not pay for 8,192 positions.
 *
 * <p>In a tensor-parallel job each rank holds its own KV heads' part of every sequence's cache
 * ({@link Transformer#newCache()}); {@link #id()} names the sequence's cache across ranks.
 */
public final class KvCache {
    private static final AtomicInteger IDS = new AtomicInteger();
    private final int id = IDS.incrementAndGet();
    private final int layers;
    private final int rowWidth;
    private final int capacityLimit;
    private float[][] keys;
    private float[][] values;
    private int[] tokens;
    private int length;
    private int capacity;

    /** @param config sizes; the cache holds at most {@code config.contextLength()} positions, of every KV head */
    public KvCache(GrokConfig config) {
        this(config, config.kvHeads());
    }

    /** A cache of {@code kvHeads} of the model's KV heads (a rank's share). */
    KvCache(GrokConfig config, int kvHeads) {
        this.layers = config.layers();
        this.rowWidth = kvHeads * config.headDim();
        this.capacityLimit = config.contextLength();
        this.keys = new float[layers][];
        this.values = new float[layers][];
        this.tokens = new int[0];
        ensureCapacity(Math.min(capacityLimit, 64));
    }

    /** A process-wide unique number (rank 0's names its followers' copies). */
    public int id() {
        return id;
    }

    /** Positions filled so far (the next token's position). */
    public int length() {
        return length;
    }

    /** Maximum positions (the context length). */
    public int capacity() {
        return capacityLimit;
    }

    /** Forgets every position (the storage is kept). */
    public void clear() {
        length = 0;
    }

    /** Drops positions {@code [newLength, length)}, e.g. to reuse a shared prompt prefix. */
    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a cache of " + length + " positions to " + newLength);
        }
        length = newLength;
    }

    /** The token id at {@code position}. */
    public int token(int position) {
        return tokens[position];
    }

    /** Keys of one layer, {@code [positions, kvHeads*headDim]} row-major; valid up to {@link #length()} (+ the rows being written). */
    float[] keys(int layer) {
        return keys[layer];
    }

    float[] values(int layer) {
        return values[layer];
    }

    int rowWidth() {
        return rowWidth;
    }

    /** Makes room for {@code count} more positions and records their tokens; returns the first new position. */
    int reserve(int[] newTokens, int offset, int count) {
        if ((long) length + count > capacityLimit) {
            throw new IllegalStateException("KV cache full: " + length + " + " + count + " positions exceed the context of "
                    + capacityLimit);
        }
        ensureCapacity(length + count);
        System.arraycopy(newTokens, offset, tokens, length, count);
        return length;
    }

    /** Appends {@code count} positions: their tokens and, per layer, their rows of keys and values. */
    void append(int[] newTokens, float[][] newKeys, float[][] newValues, int count) {
        int at = reserve(newTokens, 0, count);
        for (int l = 0; l < layers; l++) {
            System.arraycopy(newKeys[l], 0, keys[l], at * rowWidth, count * rowWidth);
            System.arraycopy(newValues[l], 0, values[l], at * rowWidth, count * rowWidth);
        }
        commit(count);
    }

    /** Marks {@code count} reserved positions as filled. */
    void commit(int count) {
        length += count;
    }

    private void ensureCapacity(int needed) {
        if (needed <= capacity) {
            return;
        }
        int cap = (int) Math.min(capacityLimit, Math.max(needed, (long) capacity * 2));
        for (int l = 0; l < layers; l++) {
            keys[l] = keys[l] == null ? new float[cap * rowWidth] : Arrays.copyOf(keys[l], cap * rowWidth);
            values[l] = values[l] == null ? new float[cap * rowWidth] : Arrays.copyOf(values[l], cap * rowWidth);
        }
        tokens = Arrays.copyOf(tokens, cap);
        capacity = cap;
    }

    /** Bytes of cache storage currently allocated. */
    public long allocatedBytes() {
        return 2L * layers * capacity * rowWidth * Float.BYTES + 4L * capacity;
    }
}
