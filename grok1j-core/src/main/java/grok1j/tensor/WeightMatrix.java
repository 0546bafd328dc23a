package grok1j.tensor;

/**
 * A weight matrix as the model uses it: {@code y = x @ W} with {@code x} of length {@link #inputDim()} and {@code y}
 * of length {@link #outputDim()} (the JAX convention of spec §2, weights {@code [in, out]}).
 *
 * <p>The storage layout is the implementation's business: the official checkpoint stores int8 {@code [in, out]}
 * with grouped bf16 scales, GGUF stores rows of quantized blocks along the input dimension ({@code [out, in]}).
 * Implementations read their stored bytes directly and dequantize in registers; nothing is copied.
 *
 * <p>Work is split across threads by output columns: {@link #multiply} computes only {@code [n0, n1)}, so a caller
 * can hand disjoint ranges to different threads ({@link Kernels#matmul}).
 */
public interface WeightMatrix {

    /** K, the length of an input row. */
    int inputDim();

    /** N, the length of an output row. */
    int outputDim();

    /**
     * Computes {@code y[t*N + n] = sum_k x[t*K + k] * W[k][n]} for {@code t in [0, tokens)} and {@code n in [n0, n1)}.
     * Accumulation is float32 or wider; no intermediate rounding.
     *
     * @param x      input activations {@code [tokens, K]}, row-major
     * @param tokens number of rows of {@code x}
     * @param y      output {@code [tokens, N]}, row-major; only columns {@code [n0, n1)} are written
     * @param n0     first output column (inclusive)
     * @param n1     last output column (exclusive)
     */
    void multiply(float[] x, int tokens, float[] y, int n0, int n1);

    /**
     * {@link #multiply} with the arithmetic of a large batch whatever {@code tokens} is: each row's result is bit for
     * bit the same for any number of rows (and equals {@link #multiply}'s once {@code tokens} reaches the kernel's
     * batch size). Prompt rows use it, so that how a prompt is cut into chunks, or how much of it came from the
     * prefix cache, never changes its numerics. The default is {@link #multiply}, for kernels whose per-row
     * arithmetic does not depend on the row count.
     */
    default void multiplyBatch(float[] x, int tokens, float[] y, int n0, int n1) {
        multiply(x, tokens, y, n0, n1);
    }

    /**
     * Parts per thread for a product of {@code tokens} rows over this matrix ({@link MatmulList}): with more than one,
     * the parts are claimed as threads get to them, so a thread that is held up (another process, the host running
     * something else on its core, a late wake-up) costs only its share of the parts it did not reach instead of
     * keeping the other threads waiting for its whole half. Worth it where each part still reads its weights in long
     * sequential runs. The default is 1: one contiguous part per thread.
     *
     * @param tokens rows of {@code x} in the product (1 in decode)
     */
    default int partsPerThread(int tokens) {
        return 1;
    }

    /** Output columns are best split across threads in multiples of this (cache lines, quant blocks). */
    default int columnAlignment() {
        return 16;
    }

    /**
     * The first and second half of this matrix's input rows as matrices of their own (views, nothing copied), so
     * that {@code x @ W = x[:, :K/2] @ top + x[:, K/2:] @ bottom}; or {@code null} if the storage cannot be cut
     * there (the default). A matrix used alone in a step is split this way so that two threads each read one
     * contiguous half instead of every row in short pieces.
     */
    default WeightMatrix[] inputHalves() {
        return null;
    }

    /**
     * Output columns {@code [from, to)} as a matrix of their own: a view over the same stored bytes, nothing copied
     * (tensor parallelism, spec distributed.md §2: a rank's query/key/value heads, its gate and up FFN columns, its
     * vocabulary slice of the unembedding).
     *
     * @throws IllegalArgumentException if the range is empty or outside {@code [0, outputDim())}, or the storage cannot
     *                                  be cut there (the message names the alignment it needs)
     */
    default WeightMatrix columns(int from, int to) {
        throw new IllegalArgumentException(typeName() + " weights cannot be split by columns");
    }

    /**
     * Input rows {@code [from, to)} as a matrix of their own, a view: {@code x[:, from:to] @ W[from:to, :]} is this
     * rank's partial sum of {@code x @ W} (the attention output and expert down projections, spec distributed.md §2).
     *
     * @throws IllegalArgumentException as {@link #columns}
     */
    default WeightMatrix rows(int from, int to) {
        throw new IllegalArgumentException(typeName() + " weights cannot be split by rows");
    }

    /** Checks {@code 0 <= from < to <= limit} for {@link #columns} and {@link #rows}. */
    static void checkRange(String what, int from, int to, int limit) {
        if (from < 0 || to > limit || from >= to) {
            throw new IllegalArgumentException(what + " [" + from + ", " + to + ") outside [0, " + limit + ")");
        }
    }

    /** Bytes of stored weight data one full {@code x @ W} reads (for bandwidth accounting). */
    long storedBytes();

    /** A short description of the storage type, e.g. {@code "int8 x bf16[8 groups]"} or {@code "Q8_0"}. */
    String typeName();
}
