package grok1j.format;

import grok1j.format.gguf.GgufFile;
import grok1j.format.gguf.GgufModel;
import grok1j.format.gguf.GgufTensor;
import grok1j.format.pickle.OfficialCheckpoint;
import grok1j.format.pickle.PickleShard;
import grok1j.format.pickle.PickledArray;
import grok1j.tensor.BFloat16;
import grok1j.tensor.GgmlDequant;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Scans every stored weight of a model for values that make its output meaningless: NaN, +Inf and -Inf, and absurd
 * magnitudes. A model whose weights hold a NaN still loads and runs, then generates garbage (token 0 over and over),
 * so this is what {@code grok1j inspect --check} runs before a long job.
 *
 * <p>Official checkpoint: float32 arrays (embedding, norms, router) value by value; for int8 matrices the bf16
 * scales (the int8 values are finite by construction), where a scale above {@link #ABSURD_SCALE} is absurd (real
 * scales are ~1e-3). GGUF: every tensor dequantized block by block (so a non-finite block scale shows as non-finite
 * values), where a value above {@link #ABSURD_VALUE} is absurd. The pages are read once in file order; nothing
 * is kept.
 */
public final class WeightCheck {
    /** A dequantized or float32 weight larger than this in magnitude is reported as absurd. */
    public static final float ABSURD_VALUE = 1e6f;
    /** An int8 scale larger than this in magnitude is reported as absurd (times 127 it exceeds 1e6). */
    public static final float ABSURD_SCALE = 1e4f;

    private static final int CHUNK = 1 << 16; // elements dequantized at a time: a multiple of every block size

    private WeightCheck() {}

    /**
     * What was wrong with one tensor.
     *
     * @param tensor     the tensor's name in its format
     * @param what       what was scanned: {@code "values"} or {@code "int8 scales"}
     * @param scanned    how many values were scanned
     * @param nan        NaN count
     * @param posInf     +Inf count
     * @param negInf     -Inf count
     * @param absurd     finite values above the absurd limit in magnitude
     * @param limit      that limit
     * @param firstIndex flat index of the first bad value
     * @param firstValue that value (may be NaN: render it with {@link Float#toString})
     */
    public record Finding(String tensor, String what, long scanned, long nan, long posInf, long negInf, long absurd,
                          float limit, long firstIndex, float firstValue) {
        /** One line, e.g. {@code blk.0.attn_q.weight: values: 1 NaN, 0 +Inf, 0 -Inf, 0 above 1e+06 of 1024; first at 17 (NaN)}. */
        @Override
        public String toString() {
            return String.format("%s: %s: %d NaN, %d +Inf, %d -Inf, %d above %.0e of %d; first at %d (%s)", tensor, what,
                    nan, posInf, negInf, absurd, limit, scanned, firstIndex, Float.toString(firstValue));
        }
    }

    /** Progress after each tensor (or chunk of one), in stored bytes. */
    @FunctionalInterface
    public interface Progress {
        void update(String tensor, long bytesDone, long bytesTotal);
    }

    /** Counts bad values of one tensor. */
    private static final class Counter {
        final String tensor;
        final String what;
        final float limit;
        long scanned, nan, posInf, negInf, absurd, firstIndex = -1;
        float firstValue;

        Counter(String tensor, String what, float limit) {
            this.tensor = tensor;
            this.what = what;
            this.limit = limit;
        }

        void add(float v) {
            long i = scanned++;
            if (Float.isNaN(v)) {
                nan++;
            } else if (v == Float.POSITIVE_INFINITY) {
                posInf++;
            } else if (v == Float.NEGATIVE_INFINITY) {
                negInf++;
            } else if (Math.abs(v) > limit) {
                absurd++;
            } else {
                return;
            }
            if (firstIndex < 0) {
                firstIndex = i;
                firstValue = v;
            }
        }

        void report(List<Finding> out) {
            if (firstIndex >= 0) {
                out.add(new Finding(tensor, what, scanned, nan, posInf, negInf, absurd, limit, firstIndex, firstValue));
            }
        }
    }

    /**
     * Scans every weight of {@code model}.
     *
     * @return the tensors with bad values, in file order; empty if every weight is finite and sane
     * @throws IOException if a shard cannot be read
     */
    public static List<Finding> scan(ModelFile model, Progress progress) throws IOException {
        List<Finding> out = new ArrayList<>();
        switch (model) {
            case OfficialCheckpoint c -> scanCheckpoint(c, progress, out);
            case GgufModel g -> scanGguf(g.file(), progress, out);
            case grok1j.format.safetensors.Grok2Model g -> scanSafetensors(g.checkpoint().storedTensors(), progress, out);
            default -> throw new IllegalArgumentException("inspect --check cannot read this model's format yet");
        }
        return out;
    }

    private static void scanCheckpoint(OfficialCheckpoint c, Progress progress, List<Finding> out) throws IOException {
        long total = 0;
        for (PickleShard s : c.shards()) {
            total += s.payloadBytes();
        }
        long done = 0;
        List<PickleShard> shards = c.shards();
        for (int i = 0; i < shards.size(); i++) {
            PickleShard s = shards.get(i);
            String name = c.layout().tensorName(i);
            if (s.quantized()) {
                Counter k = new Counter(name, "int8 scales", ABSURD_SCALE);
                scanArray(s, s.scales(), k);
                k.report(out);
            } else if (s.array().dtype() != PickledArray.DType.INT8) {
                Counter k = new Counter(name, "values", ABSURD_VALUE);
                scanArray(s, s.array(), k);
                k.report(out);
            }
            done += s.payloadBytes();
            progress.update(name, done, total);
        }
    }

    /** Maps one float array of a shard (a few GB at most) and counts its values. */
    private static void scanArray(PickleShard s, PickledArray a, Counter k) throws IOException {
        if (a.length() == 0) {
            return;
        }
        try (FileChannel ch = FileChannel.open(s.file(), StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            MemorySegment seg = FileMapping.readOnly(s.file(), ch, a.offset(), a.length(), arena);
            ByteOrder order = a.order() == null ? ByteOrder.LITTLE_ENDIAN : a.order();
            long n = a.length() / a.dtype().size();
            switch (a.dtype()) {
                case F32 -> {
                    ValueLayout.OfFloat f = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(order);
                    for (long j = 0; j < n; j++) {
                        k.add(seg.get(f, j * 4));
                    }
                }
                case BF16 -> {
                    ValueLayout.OfShort h = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(order);
                    for (long j = 0; j < n; j++) {
                        k.add(BFloat16.toFloat(seg.get(h, j * 2)));
                    }
                }
                case INT8 -> { }
            }
        }
    }

    /** Safetensors (Grok-2): every float tensor of every file widened exactly, rank slices one by one. */
    private static void scanSafetensors(List<grok1j.format.safetensors.SafetensorsTensor> tensors, Progress progress,
                                        List<Finding> out) {
        long total = 0;
        for (var t : tensors) {
            total += t.data().byteSize();
        }
        long done = 0;
        for (var t : tensors) {
            String kind = t.dtype().name();
            if (kind.equals("BF16") || kind.equals("F16") || kind.equals("F32")) {
                Counter k = new Counter(t.name(), "values", ABSURD_VALUE);
                long n = t.elementCount();
                for (long j = 0; j < n; j++) {
                    k.add(t.getFloat(j));
                }
                k.report(out);
            }
            done += t.data().byteSize();
            progress.update(t.name(), done, total);
        }
    }

    private static void scanGguf(GgufFile f, Progress progress, List<Finding> out) {
        long total = 0;
        for (GgufTensor t : f.tensors()) {
            total += t.data().byteSize();
        }
        long done = 0;
        float[] buf = new float[CHUNK];
        for (GgufTensor t : f.tensors()) {
            Counter k = new Counter(t.name(), "values", ABSURD_VALUE);
            long n = t.elements();
            long bytesPerBlock = t.type().typeSize();
            int block = t.type().blockSize();
            for (long first = 0; first < n; first += CHUNK) {
                int count = (int) Math.min(CHUNK, n - first);
                GgmlDequant.dequantize(t.type(), t.data(), first / block * bytesPerBlock, buf, 0, count);
                for (int j = 0; j < count; j++) {
                    k.add(buf[j]);
                }
                if ((first / CHUNK) % 256 == 255) {
                    progress.update(t.name(), done + (first + count) / block * bytesPerBlock, total);
                }
            }
            k.report(out);
            done += t.data().byteSize();
            progress.update(t.name(), done, total);
        }
    }
}
