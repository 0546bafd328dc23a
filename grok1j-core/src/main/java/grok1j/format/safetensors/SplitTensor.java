package grok1j.format.safetensors;

import java.util.List;

/**
 * A tensor stored as R tensor-parallel rank slices, one per {@code -TP-00K} file (grok-2 spec §3.2): the logical
 * tensor is the slices joined along {@code axis} in rank order, read as views (never merged into a copy).
 * Grok-2's expert {@code w1}/{@code w3} ({@code [F, D]}) are split along axis 0 (rows {@code [K·s, (K+1)·s)} come
 * from rank K), {@code w2} ({@code [D, F]}) along axis 1 (columns).
 *
 * @param name  the tensor name (the same in every rank file)
 * @param axis  0 (rows) or 1 (columns) of the 2-D tensor
 * @param ranks the slices in rank order, all of one shape and dtype
 */
public record SplitTensor(String name, int axis, List<SafetensorsTensor> ranks) {
    public SplitTensor {
        ranks = List.copyOf(ranks);
        if (axis != 0 && axis != 1) {
            throw new IllegalArgumentException("axis must be 0 or 1, got " + axis);
        }
    }

    /** @return the width of one slice along {@link #axis()}, s = F / R */
    public long sliceSize() {
        return ranks.get(0).shape()[axis];
    }

    /** @return the logical (joined) 2-D shape */
    public long[] shape() {
        long[] s = ranks.get(0).shape().clone();
        s[axis] *= ranks.size();
        return s;
    }

    /** Element {@code [row, col]} of the logical tensor, widened exactly to float32, read from its rank's view. */
    public float get(long row, long col) {
        long s = sliceSize();
        long[] slice = ranks.get(0).shape();
        if (axis == 0) {
            return ranks.get((int) (row / s)).getFloat((row % s) * slice[1] + col);
        }
        return ranks.get((int) (col / s)).getFloat(row * slice[1] + col % s);
    }
}
