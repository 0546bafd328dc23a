package grok1j.format;

import grok1j.model.Embedding;
import grok1j.tensor.F32Matrix;
import grok1j.tensor.WeightMatrix;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A float32 {@code [vocab, d_model]} embedding table over stored little-endian bytes (the official checkpoint's
 * {@code language_model/in_out_embed/embeddings}, spec §2). The same bytes serve as the tied unembedding,
 * {@code [d_model, vocab]} in {@link F32Matrix.Layout#OUT_IN}: one contiguous row per output token. Nothing is copied.
 * The payload need not be 4-byte aligned (it starts at offset 151 in the release), so reads are unaligned.
 */
public final class F32Embedding implements Embedding {
    private static final ValueLayout.OfFloat LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment table;
    private final int vocab;
    private final int dim;
    private final F32Matrix unembedding;

    /** @throws IllegalArgumentException if {@code table} is not {@code 4 * vocab * dim} bytes */
    public F32Embedding(MemorySegment table, int vocab, int dim) {
        if (table.byteSize() != 4L * vocab * dim) {
            throw new IllegalArgumentException("embedding has " + table.byteSize() + " bytes, expected " + 4L * vocab * dim);
        }
        this.table = table;
        this.vocab = vocab;
        this.dim = dim;
        this.unembedding = new F32Matrix(table, dim, vocab, F32Matrix.Layout.OUT_IN);
    }

    public int vocabSize() { return vocab; }
    public int dim() { return dim; }

    /** @throws IndexOutOfBoundsException if {@code token} is not in {@code [0, vocab)} */
    @Override
    public void lookup(int token, float[] out, int off) {
        if (token < 0 || token >= vocab) {
            throw new IndexOutOfBoundsException("token " + token + " outside the vocabulary [0, " + vocab + ")");
        }
        MemorySegment.copy(table, LE, 4L * token * dim, out, off, dim);
    }

    @Override
    public WeightMatrix unembedding() {
        return unembedding;
    }
}
