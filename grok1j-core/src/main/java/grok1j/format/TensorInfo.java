package grok1j.format;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * What {@code inspect} shows of one stored tensor.
 *
 * @param name   the tensor's name in its format (e.g. {@code transformer/decoder_layer_0/moe/linear/w}, {@code blk.0.ffn_up_exps.weight})
 * @param shape  row-major shape as stored (numpy order)
 * @param type   storage type, e.g. {@code f32}, {@code int8+bf16[8,1,32768]}, {@code Q8_0}
 * @param bytes  payload bytes
 * @param file   the file it lives in
 * @param offset byte offset of the payload in that file
 */
public record TensorInfo(String name, long[] shape, String type, long bytes, Path file, long offset) {
    @Override
    public String toString() {
        return name + " " + Arrays.toString(shape) + " " + type + " " + bytes + " bytes";
    }
}
