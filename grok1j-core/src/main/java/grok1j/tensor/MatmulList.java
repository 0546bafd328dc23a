package grok1j.tensor;

/**
 * A reusable list of independent products {@code y_i = x_i @ W_i} run as <em>one</em> parallel region: the output
 * columns of all entries are laid end to end, weighted by their input dimension (the bytes each column reads), and
 * cut into one contiguous range per thread, at multiples of each matrix's {@link WeightMatrix#columnAlignment()}.
 * One handoff and one barrier for, e.g., the query/key/value projections, or the gate and up projections of both
 * selected experts (kernels.md §6 item 4). Entries are stored in arrays that grow once; {@link #run} allocates
 * nothing.
 *
 * <p>Not thread-safe: one owner fills and runs it.
 */
public final class MatmulList implements ThreadPool.Job {
    /** Below this many multiply-adds in total a region is not worth a handoff. */
    static final long PARALLEL_THRESHOLD = 32_768;

    private WeightMatrix[] w = new WeightMatrix[8];
    private float[][] x = new float[8][];
    private float[][] y = new float[8][];
    private int[] tokens = new int[8];
    /** Per entry, its leading rows that are prompt rows ({@link WeightMatrix#multiplyBatch}). */
    private int[] batchRows = new int[8];
    /** Per thread: the other rows' inputs and outputs when an entry mixes both kinds. */
    private static final ThreadLocal<float[][]> MIXED = ThreadLocal.withInitial(() -> new float[2][0]);
    private long[] start = new long[9];
    private int size;

    /** Empties the list (keeps its storage). */
    public MatmulList clear() {
        for (int i = 0; i < size; i++) {
            w[i] = null;
            x[i] = null;
            y[i] = null;
        }
        size = 0;
        return this;
    }

    /**
     * Adds {@code y = x @ w} for {@code tokens} rows.
     *
     * @param x [tokens, w.inputDim()]
     * @param y [tokens, w.outputDim()]
     */
    public MatmulList add(WeightMatrix w, float[] x, int tokens, float[] y) {
        return add(w, x, tokens, y, 0);
    }

    /**
     * Adds {@code y = x @ w} for {@code tokens} rows, of which the first {@code batchRows} run with
     * {@link WeightMatrix#multiplyBatch} (prompt rows: the same arithmetic whatever their number) and the rest with
     * {@link WeightMatrix#multiply} (decode rows).
     */
    public MatmulList add(WeightMatrix w, float[] x, int tokens, float[] y, int batchRows) {
        if (batchRows < 0 || batchRows > tokens) {
            throw new IllegalArgumentException("batch rows " + batchRows + " outside [0, " + tokens + "]");
        }
        if (size == this.w.length) {
            int cap = size * 2;
            this.w = java.util.Arrays.copyOf(this.w, cap);
            this.x = java.util.Arrays.copyOf(this.x, cap);
            this.y = java.util.Arrays.copyOf(this.y, cap);
            this.tokens = java.util.Arrays.copyOf(this.tokens, cap);
            this.batchRows = java.util.Arrays.copyOf(this.batchRows, cap);
            this.start = java.util.Arrays.copyOf(this.start, cap + 1);
        }
        this.w[size] = w;
        this.x[size] = x;
        this.y[size] = y;
        this.tokens[size] = tokens;
        this.batchRows[size] = batchRows;
        start[size + 1] = start[size] + (long) w.inputDim() * w.outputDim();
        size++;
        return this;
    }

    /** Number of entries. */
    public int size() {
        return size;
    }

    /** Runs every entry on {@code pool} (inline when the total work is tiny) and clears the list. */
    public void run(ThreadPool pool) {
        if (size == 0) {
            return;
        }
        long macs = 0;
        for (int i = 0; i < size; i++) {
            macs += (start[i + 1] - start[i]) * tokens[i];
        }
        if (pool.threads() == 1 || macs < PARALLEL_THRESHOLD) {
            run(0, 1);
        } else {
            // one contiguous part per thread unless every matrix takes more (GGUF rows in decode): wide parts read the
            // [in, out] int8 weights in long sequential runs, which matters more there than finer load balancing
            // (Int8GroupedMatrix.TILE)
            int perThread = Integer.MAX_VALUE;
            for (int i = 0; i < size; i++) {
                perThread = Math.min(perThread, Math.max(1, w[i].partsPerThread(tokens[i])));
            }
            pool.run(this, pool.threads() * perThread);
        }
        clear();
    }

    /** Part {@code part} of {@code parts}: the entries' columns between two cut points of the weighted column line. */
    @Override
    public void run(int part, int parts) {
        long total = start[size];
        long from = total * part / parts;
        long to = total * (part + 1) / parts;
        for (int i = 0; i < size; i++) {
            long s = start[i], e = start[i + 1];
            if (e <= from || s >= to) {
                continue;
            }
            int c0 = column(i, from);
            int c1 = column(i, to);
            if (c0 < c1) {
                multiply(i, c0, c1);
            }
        }
    }

    /** Entry {@code i}'s columns {@code [c0, c1)}: prompt rows batched, then the other rows on copies. */
    private void multiply(int i, int c0, int c1) {
        WeightMatrix m = w[i];
        int rows = tokens[i], batch = batchRows[i];
        if (batch == 0) {
            m.multiply(x[i], rows, y[i], c0, c1);
            return;
        }
        m.multiplyBatch(x[i], batch, y[i], c0, c1);
        if (batch == rows) {
            return;
        }
        // the kernels read rows from offset 0: the decode rows go through per-thread copies
        int k = m.inputDim(), n = m.outputDim(), rest = rows - batch;
        float[][] s = MIXED.get();
        if (s[0].length < rest * k) {
            s[0] = new float[rest * k];
        }
        if (s[1].length < rest * n) {
            s[1] = new float[rest * n];
        }
        System.arraycopy(x[i], batch * k, s[0], 0, rest * k);
        m.multiply(s[0], rest, s[1], c0, c1);
        for (int t = 0; t < rest; t++) {
            System.arraycopy(s[1], t * n + c0, y[i], (batch + t) * n + c0, c1 - c0);
        }
    }

    /** The column of entry {@code i} at cut point {@code cut}, rounded to the entry's alignment; clamped to [0, N]. */
    private int column(int i, long cut) {
        int n = w[i].outputDim();
        if (cut <= start[i]) {
            return 0;
        }
        if (cut >= start[i + 1]) {
            return n;
        }
        long col = (cut - start[i]) / w[i].inputDim();
        int align = Math.max(1, w[i].columnAlignment());
        long rounded = (col + align / 2) / align * align;
        return (int) Math.min(n, rounded);
    }
}
