package grok1j.format.pickle;

import grok1j.model.GrokConfig;
import java.util.Arrays;

/**
 * Which {@code ckpt-0/tensorNNNNN_000} file holds which parameter (spec §4.2), and the shape it must have (§2).
 *
 * <p>The release flattens the Haiku parameter dict in sorted key order, so file 0 is the embedding, file 1 the final
 * norm, then 12 files per layer in {@link Slot} order, with the layers in <em>lexicographic</em> order of their
 * decimal index ({@code "decoder_layer_1/" < "decoder_layer_10/" < "decoder_layer_2/"}):
 * {@code file(L, slot) = 2 + 12 * rank(str(L)) + slot}. For 64 layers layer 2 starts at file 146, for 12 at 50.
 */
public final class CheckpointLayout {
    /** Files before the first layer: the embedding and the final norm. */
    public static final int GLOBAL_FILES = 2;
    /** Name of file 0. */
    public static final String EMBEDDING = "language_model/in_out_embed/embeddings";
    /** Name of file 1. */
    public static final String FINAL_NORM = "language_model/rms_norm/scale";

    /** The 12 parameters of a decoder layer in file order (spec §2 "# in layer"). */
    public enum Slot {
        GATE("moe/linear/w", true),
        DOWN("moe/linear_1/w", true),
        UP("moe/linear_v/w", true),
        KEY("multi_head_attention/key/w", true),
        ATTN_OUTPUT("multi_head_attention/linear/w", true),
        QUERY("multi_head_attention/query/w", true),
        VALUE("multi_head_attention/value/w", true),
        ATTN_NORM("rms_norm/scale", false),
        POST_ATTN_NORM("rms_norm_1/scale", false),
        PRE_MOE_NORM("rms_norm_2/scale", false),
        POST_MOE_NORM("rms_norm_3/scale", false),
        ROUTER("router/w", false);

        private final String path;
        private final boolean quantized;

        Slot(String path, boolean quantized) {
            this.path = path;
            this.quantized = quantized;
        }

        /** Path below {@code transformer/decoder_layer_N/}, e.g. {@code moe/linear_1/w}. */
        public String path() { return path; }

        /** True if stored as {@code QuantizedWeight8bit} (int8 + bf16 scales), false for a bare f32 array. */
        public boolean quantized() { return quantized; }

        /** The stored (weight) shape under {@code c}: {@code [in, out]}, experts first for the MoE weights. */
        public long[] shape(GrokConfig c) {
            long d = c.dModel(), f = c.expertFfn(), e = c.experts();
            long q = (long) c.queryHeads() * c.headDim(), kv = (long) c.kvHeads() * c.headDim();
            return switch (this) {
                case GATE, UP -> new long[] {e, d, f};
                case DOWN -> new long[] {e, f, d};
                case KEY, VALUE -> new long[] {d, kv};
                case QUERY -> new long[] {d, q};
                case ATTN_OUTPUT -> new long[] {q, d};
                case ATTN_NORM, POST_ATTN_NORM, PRE_MOE_NORM, POST_MOE_NORM -> new long[] {d};
                case ROUTER -> new long[] {d, e};
            };
        }
    }

    private static final Slot[] SLOTS = Slot.values();

    private final int layers;
    /** rank[L] = position of str(L) among the sorted strings str(0..layers-1). */
    private final int[] rank;
    /** layerAtRank[r] = the layer whose files are the r-th group of 12. */
    private final int[] layerAtRank;

    /** @throws IllegalArgumentException if {@code layers < 1} */
    public CheckpointLayout(int layers) {
        if (layers < 1) {
            throw new IllegalArgumentException("layers must be positive, got " + layers);
        }
        this.layers = layers;
        String[] names = new String[layers];
        for (int l = 0; l < layers; l++) {
            names[l] = Integer.toString(l);
        }
        Arrays.sort(names); // String order = Python str order for ASCII digits
        rank = new int[layers];
        layerAtRank = new int[layers];
        for (int r = 0; r < layers; r++) {
            int l = Integer.parseInt(names[r]);
            rank[l] = r;
            layerAtRank[r] = l;
        }
    }

    public int layers() {
        return layers;
    }

    /** {@code 2 + 12 * layers}: 770 for the release. */
    public int fileCount() {
        return GLOBAL_FILES + SLOTS.length * layers;
    }

    /** The file index of {@code slot} of {@code layer}: {@code 2 + 12 * rank(str(layer)) + slot}. */
    public int fileIndex(int layer, Slot slot) {
        return GLOBAL_FILES + SLOTS.length * rank[layer] + slot.ordinal();
    }

    /** {@code tensor00042_000}. */
    public static String fileName(int index) {
        String digits = Integer.toString(index);
        return "tensor" + "00000".substring(Math.min(5, digits.length())) + digits + "_000";
    }

    /** The layer file {@code index} belongs to, or -1 for the embedding and final norm. */
    public int layerOf(int index) {
        return index < GLOBAL_FILES ? -1 : layerAtRank[(index - GLOBAL_FILES) / SLOTS.length];
    }

    /** The slot of file {@code index}, or null for the embedding and final norm. */
    public Slot slotOf(int index) {
        return index < GLOBAL_FILES ? null : SLOTS[(index - GLOBAL_FILES) % SLOTS.length];
    }

    /** Haiku name of file {@code index}, e.g. {@code transformer/decoder_layer_3/moe/linear/w}. */
    public String tensorName(int index) {
        if (index == 0) return EMBEDDING;
        if (index == 1) return FINAL_NORM;
        return "transformer/decoder_layer_" + layerOf(index) + "/" + slotOf(index).path();
    }

    /** True if file {@code index} holds a {@code QuantizedWeight8bit}. */
    public boolean quantized(int index) {
        return index >= GLOBAL_FILES && slotOf(index).quantized();
    }

    /** The shape file {@code index} must have under {@code c} (the int8 weight's shape for quantized files). */
    public long[] expectedShape(int index, GrokConfig c) {
        if (index == 0) return new long[] {c.vocabSize(), c.dModel()};
        if (index == 1) return new long[] {c.dModel()};
        return slotOf(index).shape(c);
    }
}
