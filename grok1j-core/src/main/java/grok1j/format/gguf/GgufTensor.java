package grok1j.format.gguf;

import grok1j.format.TensorInfo;
import grok1j.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * One tensor of a GGUF file: its name, element type, dimensions in ggml order ({@code ne[0]} innermost, i.e. the
 * length of one stored row) and a view of its bytes in the mapped file.
 *
 * @param name   tensor name, e.g. {@code blk.0.ffn_up_exps.weight}
 * @param type   element type
 * @param ne     dimensions, innermost first (ggml order; the numpy shape is the reverse)
 * @param file   the file (shard) holding the data
 * @param offset absolute byte offset of the data in that file
 * @param data   the data bytes, a view of the mapping (not a copy); {@code type.bytesFor(elements())} long
 */
public record GgufTensor(String name, GgmlType type, long[] ne, Path file, long offset, MemorySegment data) {

    /** Total number of elements. */
    public long elements() {
        long n = 1;
        for (long d : ne) {
            n *= d;
        }
        return n;
    }

    /** Row-major (numpy order) shape: {@code ne} reversed. */
    public long[] shape() {
        long[] s = new long[ne.length];
        for (int i = 0; i < ne.length; i++) {
            s[i] = ne[ne.length - 1 - i];
        }
        return s;
    }

    /** What {@code inspect} shows. */
    public TensorInfo info() {
        return new TensorInfo(name, shape(), type.name(), data.byteSize(), file, offset);
    }
}
