package grok1j.format.pickle;

import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * One numpy array found in a checkpoint shard: where its raw bytes sit in the file, not the bytes themselves
 * (spec §4.4). The payload is C-order; its length was checked to be {@code prod(shape) * dtype.size()}.
 *
 * @param shape  numpy shape, row-major
 * @param dtype  element type
 * @param order  byte order of multi-byte elements (always little-endian for accepted arrays)
 * @param offset byte offset of the payload in the shard file
 * @param length payload bytes
 */
public record PickledArray(long[] shape, DType dtype, ByteOrder order, long offset, long length) {

    /** The element types a Grok-1 shard may hold (spec §4.3). */
    public enum DType {
        /** numpy {@code 'f4'}: embedding, norms, router. */
        F32("f4", "f32", 4),
        /** numpy {@code 'i1'}: quantized weights. */
        INT8("i1", "int8", 1),
        /** {@code ml_dtypes.bfloat16}: quantization scales. */
        BF16("bfloat16", "bf16", 2);

        private final String numpyName;
        private final String shortName;
        private final int size;

        DType(String numpyName, String shortName, int size) {
            this.numpyName = numpyName;
            this.shortName = shortName;
            this.size = size;
        }

        /** The name numpy pickles ({@code f4}, {@code i1}, {@code bfloat16}). */
        public String numpyName() { return numpyName; }

        /** Bytes per element. */
        public int size() { return size; }

        @Override
        public String toString() { return shortName; }
    }

    public PickledArray {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PickledArray a && Arrays.equals(shape, a.shape) && dtype == a.dtype && order.equals(a.order)
                && offset == a.offset && length == a.length;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(shape) * 31 + Long.hashCode(offset);
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Size of dimension {@code i}. */
    public long dim(int i) {
        return shape[i];
    }

    /** Shape as {@code [a,b,c]} for messages. */
    public String shapeString() {
        return shapeString(shape);
    }

    static String shapeString(long[] shape) {
        return Arrays.toString(shape).replace(" ", "");
    }

    @Override
    public String toString() {
        return dtype + " " + shapeString() + " @" + offset + "+" + length;
    }
}
