package grok1j.format.safetensors;

import grok1j.format.TensorInfo;
import grok1j.tensor.BFloat16;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * One tensor of a safetensors file: a view of its bytes in the file's mapping (nothing is copied).
 *
 * @param file       the file it lives in
 * @param name       its name in the header, e.g. {@code model.layers.0.self_attn.q_proj.weight}
 * @param dtype      element type
 * @param shape      row-major shape as stored (PyTorch {@code [out, in]} for a linear layer); {@code []} = a scalar
 * @param fileOffset byte offset of its first element in the file (8 + header length + {@code data_offsets[0]})
 * @param data       its {@code product(shape) * dtype.size} bytes, little-endian, row-major, not necessarily aligned
 */
public record SafetensorsTensor(Path file, String name, SafetensorsDtype dtype, long[] shape, long fileOffset,
                                MemorySegment data) {
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** @return the number of elements (1 for shape {@code []}) */
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** @return true if the shape is exactly {@code dims} */
    public boolean hasShape(long... dims) {
        return Arrays.equals(shape, dims);
    }

    /**
     * Element {@code index} (row-major) widened exactly to float32.
     *
     * @throws UnsupportedOperationException for a dtype other than BF16, F16 or F32
     */
    public float getFloat(long index) {
        return switch (dtype) {
            case BF16 -> BFloat16.toFloat(data.getAtIndex(SHORT_LE, index));
            case F16 -> Float.float16ToFloat(data.getAtIndex(SHORT_LE, index));
            case F32 -> data.getAtIndex(FLOAT_LE, index);
            default -> throw new UnsupportedOperationException(this + ": not a floating-point tensor grok1j reads");
        };
    }

    /** @return what {@code inspect} shows */
    public TensorInfo info() {
        return new TensorInfo(name, shape.clone(), dtype.name(), data.byteSize(), file, fileOffset);
    }

    @Override
    public String toString() {
        return file.getFileName() + ": " + name + " " + dtype + Arrays.toString(shape);
    }
}
