package grok1j.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import grok1j.tensor.GgmlType;
import grok1j.tensor.WeightMatrix;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Convert a random model to GGUF, open it as a Grok model, and compare every matrix with its source. */
class GgufModelTest {
    @TempDir
    Path dir;

    static final GrokConfig CONFIG = TinyGrok.config(256, 512, 300);
    static final GrokWeights SOURCE = TinyGrok.weights(CONFIG, 11);

    /** Max |a - b| over {@code y = x @ W} for random x, relative to max |a|. */
    static double relDiff(WeightMatrix a, WeightMatrix b, Random r) {
        assertEquals(a.inputDim(), b.inputDim());
        assertEquals(a.outputDim(), b.outputDim());
        int tokens = 2;
        float[] x = new float[tokens * a.inputDim()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        float[] ya = new float[tokens * a.outputDim()], yb = new float[ya.length];
        a.multiply(x, tokens, ya, 0, a.outputDim());
        b.multiply(x, tokens, yb, 0, b.outputDim());
        double max = 0, diff = 0;
        for (int i = 0; i < ya.length; i++) {
            max = Math.max(max, Math.abs(ya[i]));
            diff = Math.max(diff, Math.abs(ya[i] - yb[i]));
        }
        return diff / max;
    }

    static void compare(GrokWeights src, GrokWeights got, double tol) {
        Random r = new Random(5);
        assertTrue(relDiff(src.embedding().unembedding(), got.embedding().unembedding(), r) <= tol, "unembedding");
        assertArrayEquals(src.finalNorm(), got.finalNorm());
        float[] a = new float[src.config().dModel()], b = new float[a.length];
        src.embedding().lookup(299, a, 0);
        got.embedding().lookup(299, b, 0);
        for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], b[i], tol * 0.1 + 1e-7);
        }
        for (int l = 0; l < src.layers().size(); l++) {
            LayerWeights s = src.layers().get(l), g = got.layers().get(l);
            assertArrayEquals(s.attnNorm(), g.attnNorm());
            assertArrayEquals(s.postAttnNorm(), g.postAttnNorm());
            assertArrayEquals(s.preMoeNorm(), g.preMoeNorm());
            assertArrayEquals(s.postMoeNorm(), g.postMoeNorm());
            assertTrue(relDiff(s.router(), g.router(), r) <= 1e-6, "router");
            WeightMatrix[][] pairs = {{s.query(), g.query()}, {s.key(), g.key()}, {s.value(), g.value()},
                    {s.attnOutput(), g.attnOutput()}};
            for (WeightMatrix[] p : pairs) {
                double rd = relDiff(p[0], p[1], r);
                assertTrue(rd <= tol, "layer " + l + " " + rd);
            }
            for (int e = 0; e < src.config().experts(); e++) {
                assertTrue(relDiff(s.gate()[e], g.gate()[e], r) <= tol, "gate " + e);
                assertTrue(relDiff(s.up()[e], g.up()[e], r) <= tol, "up " + e);
                assertTrue(relDiff(s.down()[e], g.down()[e], r) <= tol, "down " + e);
            }
        }
    }

    @Test
    void f32ConversionIsExactAndTied() throws IOException {
        Path out = dir.resolve("tiny-f32.gguf");
        List<Long> progress = new ArrayList<>();
        GgufConverter.convert(SOURCE, TinyGrok.vocab(300), GgmlType.F32, "tiny", out, 0, (t, done, total) -> progress.add(done));
        assertFalse(progress.isEmpty());
        try (GgufModel m = GgufModel.open(out)) {
            assertEquals(CONFIG.summary(), m.config().summary());
            assertEquals(CONFIG.vocabSize(), m.config().vocabSize());
            assertEquals(78.5f, m.config().effectiveEmbeddingMultiplier());
            assertEquals(0.578125f, m.config().effectiveOutputMultiplier());
            assertEquals((float) CONFIG.attnOutputMultiplier(), (float) m.config().attnOutputMultiplier());
            assertFalse(m.untiedOutput());
            assertSame(m.weights().embedding().unembedding(), m.weights().embedding().unembedding());
            compare(SOURCE, m.weights(), 1e-6);
            GgufVocab v = m.tokenizerPieces();
            GgufVocab src = TinyGrok.vocab(300);
            assertArrayEquals(src.tokens(), v.tokens());
            assertArrayEquals(src.scores(), v.scores());
            assertArrayEquals(src.tokenTypes(), v.tokenTypes());
            assertEquals(1, v.bosId());
            assertEquals(2, v.eosId());
            assertEquals(3, v.unkId());
            assertEquals(0, v.padId());
            assertFalse(v.addBos());
            assertNull(m.tokenizerPath());
            assertEquals("GGUF v3", m.metadata().get("format"));
            assertEquals("grok", m.metadata().get("general.architecture"));
            assertEquals(6 + 2 * 12, m.tensors().size() + 4); // token_embd, output_norm + 12 per layer
        }
        assertEquals(progress.get(progress.size() - 1), progress.stream().mapToLong(Long::longValue).max().getAsLong());
    }

    @Test
    void quantizedConversionsAndTheF16Fallback() throws IOException {
        Object[][] cases = {{GgmlType.F16, 2e-3}, {GgmlType.BF16, 1e-2}, {GgmlType.Q8_0, 2e-2}, {GgmlType.Q6_K, 5e-2},
                {GgmlType.Q4_K, 0.2}};
        for (Object[] c : cases) {
            GgmlType t = (GgmlType) c[0];
            Path out = dir.resolve("tiny-" + t + ".gguf");
            GgufConverter.convert(SOURCE, TinyGrok.vocab(300), t, "tiny", out, 0, null);
            try (GgufModel m = GgufModel.open(out)) {
                compare(SOURCE, m.weights(), (double) c[1]);
                GgufFile f = m.file();
                assertEquals(t, f.tensor("blk.0.attn_q.weight").type());
                assertEquals(GgmlType.F32, f.tensor("blk.0.ffn_gate_inp.weight").type());
                assertEquals(GgmlType.F32, f.tensor("blk.1.attn_norm.weight").type());
                // attention output and down projections have 8 scale groups: 256/8 = 32 and 512/8 = 64 input rows each
                GgmlType narrow = t.blockSize() > 32 ? GgmlType.F16 : t;
                assertEquals(narrow, f.tensor("blk.0.attn_output.weight").type(), t.toString());
                assertEquals(t.blockSize() > 64 ? GgmlType.F16 : t, f.tensor("blk.0.ffn_down_exps.weight").type());
            }
        }
        // input dimension not a multiple of the block: d_model 32 with Q4_K -> F16; experts' ffn 88 -> F16 for Q8_0
        assertEquals(GgmlType.F16, GgufConverter.choose(GgmlType.Q4_K, 32, 0));
        assertEquals(GgmlType.F16, GgufConverter.choose(GgmlType.Q8_0, 88, 0));
        assertEquals(GgmlType.Q8_0, GgufConverter.choose(GgmlType.Q8_0, 64, 32));
        assertEquals(GgmlType.F16, GgufConverter.choose(GgmlType.Q8_0, 64, 4));
    }

    @Test
    void splitConversionOpensFromAnyShard() throws IOException {
        Path out = dir.resolve("split.gguf");
        List<Path> files = GgufConverter.convert(SOURCE, TinyGrok.vocab(300), GgmlType.Q8_0, "tiny", out, 1 << 20, null);
        assertTrue(files.size() >= 3, files.toString());
        assertEquals("split-00001-of-0000" + files.size() + ".gguf", files.get(0).getFileName().toString());
        for (Path p : files) {
            try (GgufModel m = GgufModel.open(p)) {
                assertEquals(files, m.file().files());
                assertEquals(CONFIG.summary(), m.config().summary());
                if (p.equals(files.get(files.size() - 1))) {
                    compare(SOURCE, m.weights(), 2e-2);
                }
            }
        }
        // a missing shard is named
        Path last = files.get(files.size() - 1);
        Path moved = dir.resolve("moved");
        Files.move(last, moved);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufModel.open(files.get(0)));
        assertTrue(e.getMessage().contains(last.toString()) && e.getMessage().contains("missing split shard"), e.getMessage());
        Files.move(moved, last);
        // a shard of another split set (wrong split.no) in its place is named
        Path second = files.get(1);
        Files.copy(files.get(2), second, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        e = assertThrows(GgufFormatException.class, () -> GgufModel.open(files.get(0)));
        assertTrue(e.getMessage().contains(second.toString()) && e.getMessage().contains("mismatched split shard"), e.getMessage());
    }

    /** Replaces the u32 type id that follows tensor {@code name}'s dimensions in the header. */
    static void patchType(Path file, String name, int dims, int newType) throws IOException {
        byte[] b = Files.readAllBytes(file);
        byte[] key = name.getBytes(StandardCharsets.UTF_8);
        int at = indexOf(b, key) + key.length + 4 + 8 * dims;
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(at, newType);
        Files.write(file, b);
    }

    static int indexOf(byte[] b, byte[] key) {
        outer:
        for (int i = 0; i + key.length <= b.length; i++) {
            for (int j = 0; j < key.length; j++) {
                if (b[i + j] != key[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }

    @Test
    void unsupportedTypeAndBadShapesNameTheTensor() throws IOException {
        Path out = dir.resolve("bad.gguf");
        GgufConverter.convert(SOURCE, TinyGrok.vocab(300), GgmlType.F32, "tiny", out, 0, null);
        patchType(out, "blk.1.attn_k.weight", 2, GgmlType.I32.id()); // same size as F32, but not computable
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufModel.open(out));
        assertTrue(e.getMessage().contains("tensor blk.1.attn_k.weight: type I32 is not supported"), e.getMessage());

        GgufConverter.convert(SOURCE, TinyGrok.vocab(300), GgmlType.F32, "tiny", out, 0, null);
        byte[] b = Files.readAllBytes(out);
        byte[] key = "grok.attention.head_count_kv".getBytes(StandardCharsets.UTF_8);
        int at = indexOf(b, key) + key.length + 4;
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(at, 1); // 1 KV head: k/v shapes no longer match
        Files.write(out, b);
        e = assertThrows(GgufFormatException.class, () -> GgufModel.open(out));
        assertTrue(e.getMessage().contains("tensor blk.0.attn_k.weight: shape (ggml ne) [256, 128], expected [256, 64]"), e.getMessage());
    }

    /** A file written before the Grok-2 era keys existed (llama.cpp's convert_grok.py) gets the spec §6.1 defaults. */
    @Test
    void olderFilesGetTheSpecDefaults() throws IOException {
        Path out = dir.resolve("old.gguf");
        GgufConverter.convert(SOURCE, TinyGrok.vocab(300), GgmlType.F32, "tiny", out, 0, null);
        byte[] b = Files.readAllBytes(out);
        for (String k : new String[] {"grok.attention.output_scale", "grok.embedding_scale", "grok.logit_scale",
                "grok.attn_logit_softcapping", "grok.expert_feed_forward_length", "grok.attention.key_length"}) {
            byte[] key = k.getBytes(StandardCharsets.UTF_8);
            b[indexOf(b, key) + key.length - 1] = 'X'; // renamed: an unknown key, ignored
        }
        Files.write(out, b);
        try (GgufModel m = GgufModel.open(out)) {
            GrokConfig c = m.config();
            assertEquals(0.08838834764831845, c.attnOutputMultiplier());
            assertEquals(78.38367176906169, c.embeddingMultiplier());
            assertEquals(0.5773502691896257, c.outputMultiplier());
            assertEquals(30.0, c.attnSoftcap());
            assertEquals(512, c.expertFfn()); // from grok.feed_forward_length
            assertEquals(64, c.headDim());    // embedding_length / head_count
            assertEquals(78.5f, c.effectiveEmbeddingMultiplier());
        }
    }
}
