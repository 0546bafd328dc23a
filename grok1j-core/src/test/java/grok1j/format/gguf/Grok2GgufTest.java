package grok1j.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import grok1j.format.Json;
import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.format.safetensors.Grok2Model;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.generate.TokenListener;
import grok1j.model.GrokWeights;
import grok1j.model.Model;
import grok1j.model.Transformer;
import grok1j.tensor.BF16Matrix;
import grok1j.tensor.GgmlType;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.WeightMatrix;
import grok1j.tokenizer.TiktokenTokenizer;
import grok1j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code fixtures/grok-2-tiny} converted to GGUF (grok-2 spec §6) and read back: llama.cpp's names and keys, the
 * experts reassembled from their rank slices exactly, the tiktoken vocabulary as byte-level BPE that tokenizes like
 * the original, and the logits of {@code expected.json} computed with the spec's semantics from the converted file.
 */
class Grok2GgufTest {
    /** The fixture's tolerance (grok-2 spec §8). */
    static final double TOLERANCE = 2e-3;

    static Path dir;
    static final Map<GgmlType, Path> FILES = new EnumMap<>(GgmlType.class);
    static List<Map<String, Object>> cases;
    static ThreadPool pool;

    @BeforeAll
    @SuppressWarnings("unchecked")
    static void convert() throws IOException {
        dir = Files.createTempDirectory("grok2-gguf");
        pool = new ThreadPool(2);
        try (ModelFile in = ModelFiles.open(TestFiles.grok2Tiny())) {
            GgufVocab vocab = GgufVocab.of(ModelFiles.tokenizer(in, null));
            for (GgmlType t : List.of(GgmlType.BF16, GgmlType.F16, GgmlType.Q8_0)) {
                Path out = dir.resolve("grok-2-tiny-" + t.name().toLowerCase() + ".gguf");
                GgufConverter.convert(in.weights(), vocab, t, "grok-2", out, 0, null);
                FILES.put(t, out);
            }
        }
        Map<String, Object> expected = (Map<String, Object>) Json.parse(
                Files.readString(TestFiles.grok2Tiny().resolve("expected.json")));
        cases = (List<Map<String, Object>>) expected.get("cases");
    }

    @AfterAll
    static void clean() throws IOException {
        pool.close();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Number) o).intValue()).toArray();
    }

    @Test
    void llamaCppNamesAndKeys() throws IOException {
        try (GgufFile f = GgufFile.open(FILES.get(GgmlType.BF16))) {
            assertEquals("grok", f.getString("general.architecture", null));
            assertEquals("grok-2", f.getString("general.name", null));
            assertEquals(512, f.getLong("grok.feed_forward_length", 0)); // the dense MLP (llama.cpp's n_ff)
            assertEquals(256, f.getLong("grok.expert_feed_forward_length", 0));
            assertEquals(30f, f.get("grok.attn_logit_softcapping"));
            assertEquals(30f, f.get("grok.router_logit_softcapping"));
            assertEquals(50f, f.get("grok.final_logit_softcapping"));
            assertEquals(2L, f.getLong("grok.attention.temperature_length", 0));
            assertEquals(16f, f.get("grok.embedding_scale"));
            assertEquals(0.5f, f.get("grok.logit_scale"));
            assertEquals((float) (1 / Math.sqrt(64)), f.get("grok.attention.output_scale"));
            assertEquals((float) 208533496, f.get("grok.rope.freq_base"));
            assertTrue(f.metadata().keySet().stream().noneMatch(k -> k.startsWith("grok.rope.scaling")),
                    "plain RoPE: no YaRN keys");
            assertEquals("gpt2", f.getString("tokenizer.ggml.model", null));
            assertEquals("grok-2", f.getString("tokenizer.ggml.pre", null));
            assertEquals(2, f.getLong("tokenizer.ggml.eos_token_id", -1));
            assertNull(f.get("tokenizer.ggml.bos_token_id"));
            assertNull(f.get("tokenizer.ggml.scores"));
            for (String name : List.of("token_embd.weight", "output.weight", "output_norm.weight", "blk.1.attn_norm.weight",
                    "blk.1.attn_q.weight", "blk.1.attn_k.weight", "blk.1.attn_v.weight", "blk.1.attn_output.weight",
                    "blk.1.attn_output_norm.weight", "blk.1.ffn_norm.weight", "blk.1.ffn_gate_inp.weight",
                    "blk.1.ffn_gate.weight", "blk.1.ffn_up.weight", "blk.1.ffn_down.weight", "blk.1.post_ffw_norm.weight")) {
                assertNotNull(f.tensor(name), name);
            }
            assertNull(f.tensor("blk.1.layer_output_norm.weight"));
            assertArrayEquals(new long[] {256, 256, 8}, f.tensor("blk.0.ffn_gate_exps.weight").ne());
            assertArrayEquals(new long[] {256, 256, 8}, f.tensor("blk.0.ffn_down_exps.weight").ne());
            assertArrayEquals(new long[] {256, 512}, f.tensor("blk.0.ffn_gate.weight").ne());
            assertArrayEquals(new long[] {512, 256}, f.tensor("blk.0.ffn_down.weight").ne());
            assertArrayEquals(new long[] {256, 512}, f.tensor("output.weight").ne());
            assertEquals(GgmlType.BF16, f.tensor("blk.0.ffn_up_exps.weight").type());
            assertEquals(GgmlType.BF16, f.tensor("token_embd.weight").type());
            assertEquals(GgmlType.F32, f.tensor("blk.0.ffn_gate_inp.weight").type());
        }
        try (GgufFile f = GgufFile.open(FILES.get(GgmlType.Q8_0))) {
            // untied: the embedding is only looked up, so it is quantized like every matrix (as llama.cpp does)
            assertEquals(GgmlType.Q8_0, f.tensor("token_embd.weight").type());
            assertEquals(GgmlType.Q8_0, f.tensor("output.weight").type());
            assertEquals(GgmlType.Q8_0, f.tensor("blk.1.ffn_down.weight").type());
        }
    }

    @Test
    void bf16WeightsAreTheReleaseBitForBitWithExpertsReassembledFromTheRankSlices() throws IOException {
        try (Grok2Model source = Grok2Model.open(TestFiles.grok2Tiny());
             GgufModel gguf = GgufModel.open(FILES.get(GgmlType.BF16))) {
            GrokWeights a = source.weights();
            GrokWeights b = gguf.weights();
            assertEquals(a.config().architecture(), b.config().architecture());
            assertEquals(a.config().expertFfn(), b.config().expertFfn());
            assertEquals(a.config().contextLength(), b.config().contextLength());
            assertEquals(a.config().eosId(), b.config().eosId());
            assertArrayEquals(a.finalNorm(), b.finalNorm());
            assertSame(a.unembedding(), b.unembedding(), "output");
            for (int l = 0; l < a.layers().size(); l++) {
                var x = a.layers().get(l);
                var y = b.layers().get(l);
                for (int e = 0; e < x.gate().length; e++) {
                    assertSame(x.gate()[e], y.gate()[e], "layer " + l + " expert " + e + " w1");
                    assertSame(x.up()[e], y.up()[e], "layer " + l + " expert " + e + " w3");
                    assertSame(x.down()[e], y.down()[e], "layer " + l + " expert " + e + " w2");
                }
                assertSame(x.denseGate(), y.denseGate(), "layer " + l + " dense gate");
                assertSame(x.denseDown(), y.denseDown(), "layer " + l + " dense down");
                assertSame(x.query(), y.query(), "layer " + l + " q");
                assertSame(x.router(), y.router(), "layer " + l + " router");
                assertArrayEquals(x.postMoeNorm(), y.postMoeNorm());
            }
            float[] ra = new float[256], rb = new float[256];
            for (int id = 0; id < a.config().vocabSize(); id++) {
                a.embedding().lookup(id, ra, 0);
                b.embedding().lookup(id, rb, 0);
                assertArrayEquals(ra, rb, "embedding row " + id);
            }
        }
    }

    /** Every weight equal: the release's, read element by element, and the GGUF's rows. */
    static void assertSame(WeightMatrix want, WeightMatrix got, String what) {
        BF16Matrix w = assertInstanceOf(BF16Matrix.class, want, what);
        assertEquals(want.inputDim(), got.inputDim(), what);
        assertEquals(want.outputDim(), got.outputDim(), what);
        int k = want.inputDim(), n = want.outputDim();
        float[] rows = new float[k * n];
        GgufConverter.copyRows(got, 0, n, rows, 0);
        for (int c = 0; c < n; c++) {
            for (int i = 0; i < k; i++) {
                if (rows[c * k + i] != w.get(i, c)) {
                    assertEquals(w.get(i, c), rows[c * k + i], what + " [" + i + ", " + c + "]");
                }
            }
        }
    }

    @Test
    void bf16MatchesTheFixture() throws IOException {
        assertMatchesFixture(GgmlType.BF16, TOLERANCE, true);
    }

    /**
     * bf16 to f16 is exact for every weight of magnitude in [2^-17, 65504] (f16 has 3 more mantissa bits, and its
     * subnormals reach 2^-24); smaller weights move by at most 2^-25. So the f16 file is held to the fixture's
     * tolerance too.
     */
    @Test
    void f16MatchesTheFixture() throws IOException {
        assertMatchesFixture(GgmlType.F16, TOLERANCE, true);
    }

    /**
     * The Q8_0 file computes the spec's function on its rounded weights: every logit at every position equals, within
     * the fixture's tolerance, that of an F32 file holding exactly those rounded weights (Q8_0 dequantizes exactly to
     * float32), so the kernels and the Grok-2 semantics add nothing beyond the rounding.
     */
    @Test
    void q8_0IsTheSpecFunctionOfItsRoundedWeights() throws IOException {
        Path f32 = dir.resolve("dequantized-q8_0.gguf");
        try (GgufModel q8 = GgufModel.open(FILES.get(GgmlType.Q8_0))) {
            GgufConverter.convert(q8.weights(), q8.tokenizerPieces(), GgmlType.F32, "grok-2", f32, 0, null);
        }
        try (Model q8 = Model.open(FILES.get(GgmlType.Q8_0), null, pool); Model exact = Model.open(f32, null, pool)) {
            double worst = 0;
            for (Map<String, Object> c : cases) {
                int[] ids = ints(c.get("prompt_ids"));
                float[] a = q8.network().forward(ids, 0, ids.length, q8.network().newCache(), Transformer.Logits.ALL);
                float[] b = exact.network().forward(ids, 0, ids.length, exact.network().newCache(), Transformer.Logits.ALL);
                for (int i = 0; i < a.length; i++) {
                    worst = Math.max(worst, Math.abs(a[i] - b[i]));
                }
            }
            System.out.printf("grok-2 GGUF Q8_0 vs its dequantized weights in F32: max |logit delta| = %.3g%n", worst);
            assertTrue(worst <= TOLERANCE, "Q8_0 and its dequantized weights differ by " + worst);
        }
    }

    /**
     * Against the fixture, Q8_0 differs by its rounding only. Q8_0 rounds each weight to a grid of {@code amax/127}
     * per block of 32, a relative RMS error {@code eps} of about 0.5% for Gaussian weights (measured here over every
     * matrix, and required to be below 0.6%). A token's logits pass through M = 2 + 13 per layer rounded matrices
     * (embedding, output; q, k, v, o, the dense gate/up/down and two experts' w1/w3/w2), whose independent errors add
     * in quadrature: a relative RMS error of {@code sqrt(M) * eps}, bounded at 3 sigma. Past the temperature length
     * L the capped attention logits, and so their errors, are multiplied by {@code log2(p)/log2(L)} (up to 4.5 here).
     * So a logit {@code z} at position p is held to {@code 3 * sqrt(M) * eps * max|z_p| * max(1, log2(p)/log2(L))},
     * where max|z_p| is the largest reference logit compared at that position.
     */
    @Test
    @SuppressWarnings("unchecked")
    void q8_0StaysWithinItsQuantizationError() throws IOException {
        double eps;
        int layers;
        try (Grok2Model source = Grok2Model.open(TestFiles.grok2Tiny());
             GgufModel q8 = GgufModel.open(FILES.get(GgmlType.Q8_0))) {
            eps = relativeRmsError(source.weights(), q8.weights());
            layers = source.weights().layers().size();
        }
        assertTrue(eps > 0.003 && eps < 0.006, "Q8_0 relative RMS weight error " + eps);
        double perMatrix = 3 * Math.sqrt(2 + 13.0 * layers) * eps;
        double temperatureLength = 2;
        double worstRatio = 0;
        try (Model model = Model.open(FILES.get(GgmlType.Q8_0), null, pool)) {
            int vocab = model.config().vocabSize();
            for (Map<String, Object> c : cases) {
                int[] ids = ints(c.get("prompt_ids"));
                float[] logits = model.network().forward(ids, 0, ids.length, model.network().newCache(),
                        Transformer.Logits.ALL);
                List<List<List<Number>>> top = (List<List<List<Number>>>) c.get("top10_per_position");
                float[] last = TestFiles.readNpyFloat32(TestFiles.grok2Tiny().resolve((String) c.get("last_logits")));
                for (int p = 0; p < ids.length; p++) {
                    double gain = p > temperatureLength ? Math.log(p) / Math.log(temperatureLength) : 1;
                    double scale = 0;
                    for (List<Number> pair : top.get(p)) {
                        scale = Math.max(scale, Math.abs(pair.get(1).doubleValue()));
                    }
                    double tolerance = perMatrix * scale * gain;
                    for (List<Number> pair : top.get(p)) {
                        double d = Math.abs(logits[p * vocab + pair.get(0).intValue()] - pair.get(1).doubleValue());
                        worstRatio = Math.max(worstRatio, d / tolerance);
                        assertTrue(d <= tolerance, "Q8_0 position " + p + " id " + pair.get(0) + ": |delta| " + d
                                + " > " + tolerance);
                    }
                    if (p == ids.length - 1) {
                        for (int v = 0; v < vocab; v++) {
                            double d = Math.abs(logits[p * vocab + v] - last[v]);
                            double t = perMatrix * Math.max(scale, Math.abs(last[v])) * gain;
                            worstRatio = Math.max(worstRatio, d / t);
                            assertTrue(d <= t, "Q8_0 last logit " + v + ": |delta| " + d + " > " + t);
                        }
                    }
                }
            }
        }
        System.out.printf("grok-2 GGUF Q8_0: weight error %.3g, worst logit |delta| / bound = %.2f%n", eps, worstRatio);
    }

    /** sqrt(sum (q - w)^2 / sum w^2) over every matrix of the layers. */
    static double relativeRmsError(GrokWeights w, GrokWeights q) {
        double[] sums = new double[2];
        for (int l = 0; l < w.layers().size(); l++) {
            var a = w.layers().get(l);
            var b = q.layers().get(l);
            List<WeightMatrix> x = new java.util.ArrayList<>(List.of(a.query(), a.key(), a.value(), a.attnOutput(),
                    a.denseGate(), a.denseUp(), a.denseDown()));
            List<WeightMatrix> y = new java.util.ArrayList<>(List.of(b.query(), b.key(), b.value(), b.attnOutput(),
                    b.denseGate(), b.denseUp(), b.denseDown()));
            for (int e = 0; e < a.gate().length; e++) {
                x.addAll(List.of(a.gate()[e], a.up()[e], a.down()[e]));
                y.addAll(List.of(b.gate()[e], b.up()[e], b.down()[e]));
            }
            for (int i = 0; i < x.size(); i++) {
                int k = x.get(i).inputDim(), n = x.get(i).outputDim();
                float[] u = new float[k * n], v = new float[k * n];
                GgufConverter.copyRows(x.get(i), 0, n, u, 0);
                GgufConverter.copyRows(y.get(i), 0, n, v, 0);
                for (int j = 0; j < u.length; j++) {
                    sums[0] += (double) (v[j] - u[j]) * (v[j] - u[j]);
                    sums[1] += (double) u[j] * u[j];
                }
            }
        }
        return Math.sqrt(sums[0] / sums[1]);
    }

    /** Top-10 logits at every prompt position and all last-position logits; optionally the 12 greedy tokens. */
    @SuppressWarnings("unchecked")
    static void assertMatchesFixture(GgmlType type, double tolerance, boolean greedy) throws IOException {
        try (Model model = Model.open(FILES.get(type), null, pool)) {
            assertEquals("grok-2", model.config().architecture().name());
            assertEquals(30, model.config().architecture().routerSoftcap());
            assertEquals(2, model.config().architecture().attnTemperatureLength());
            assertEquals(50, model.config().architecture().finalSoftcap());
            assertTrue(model.config().architecture().erfGelu());
            int vocab = model.config().vocabSize();
            double worst = 0;
            for (Map<String, Object> c : cases) {
                int[] ids = ints(c.get("prompt_ids"));
                float[] logits = model.network().forward(ids, 0, ids.length, model.network().newCache(),
                        Transformer.Logits.ALL);
                List<List<List<Number>>> top = (List<List<List<Number>>>) c.get("top10_per_position");
                for (int p = 0; p < ids.length; p++) {
                    for (List<Number> pair : top.get(p)) {
                        double got = logits[p * vocab + pair.get(0).intValue()];
                        worst = Math.max(worst, Math.abs(got - pair.get(1).doubleValue()));
                        assertEquals(pair.get(1).doubleValue(), got, tolerance, type + " position " + p + " id " + pair.get(0));
                    }
                }
                float[] want = TestFiles.readNpyFloat32(TestFiles.grok2Tiny().resolve((String) c.get("last_logits")));
                int last = (ids.length - 1) * vocab;
                for (int v = 0; v < vocab; v++) {
                    worst = Math.max(worst, Math.abs(logits[last + v] - want[v]));
                    assertEquals(want[v], logits[last + v], tolerance, type + " last logit " + v);
                }
                if (greedy) {
                    int[] wantIds = ((List<Map<String, Object>>) c.get("greedy")).stream()
                            .mapToInt(g -> ((Number) g.get("token")).intValue()).toArray();
                    SamplingParams sp = new SamplingParams(0, 0, 1, 0, null, wantIds.length, List.of(), true);
                    GenerationResult r = model.newContext().generate(ids, sp, TokenListener.NONE);
                    assertArrayEquals(wantIds, r.ids(), type + " greedy tokens");
                }
            }
            System.out.printf("grok-2 GGUF %s: max |logit delta| = %.3g (tolerance %.3g)%n", type, worst, tolerance);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void theEmbeddedVocabularyTokenizesLikeTheTokJson() throws IOException {
        Tokenizer original = Tokenizer.load(TestFiles.grok2Tiny().resolve("tokenizer.tok.json"));
        Tokenizer fromGguf = ModelFiles.loadTokenizer(FILES.get(GgmlType.Q8_0));
        TiktokenTokenizer a = assertInstanceOf(TiktokenTokenizer.class, original);
        TiktokenTokenizer b = assertInstanceOf(TiktokenTokenizer.class, fromGguf);
        assertEquals(a.vocabSize(), b.vocabSize());
        for (int id = 0; id < a.vocabSize(); id++) {
            assertArrayEquals(a.tokenBytes(id), b.tokenBytes(id), "token " + id);
            assertEquals(a.isSpecial(id), b.isSpecial(id), "token " + id);
        }
        assertEquals(a.eosId(), b.eosId());
        List<String> lines = Files.readAllLines(TestFiles.shared().resolve("fixtures/tokenizer/grok-2-tiny.jsonl"),
                StandardCharsets.UTF_8);
        int n = 0;
        for (String line : lines) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> c = (Map<String, Object>) Json.parse(line);
            String text = (String) c.get("text");
            int[] ids = b.encode(text);
            assertArrayEquals(ints(c.get("ids")), ids, "case " + c.get("tag"));
            assertEquals(text, b.decode(ids, 0, ids.length), "case " + c.get("tag"));
            n++;
        }
        assertEquals(359, n);
    }

    @Test
    void aByteLevelVocabularyWithAnotherSplitIsRefusedInOneLine() throws IOException {
        Path other = dir.resolve("other-pre.gguf");
        try (GgufModel q8 = GgufModel.open(FILES.get(GgmlType.Q8_0))) {
            GgufVocab v = q8.tokenizerPieces();
            GgufVocab llama3 = new GgufVocab(v.model(), "llama-bpe", v.tokens(), v.scores(), v.tokenTypes(), v.merges(),
                    v.bosId(), v.eosId(), v.unkId(), v.padId(), false);
            GgufConverter.convert(q8.weights(), llama3, GgmlType.Q8_0, "grok-2", other, 0, null);
        }
        IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> ModelFiles.loadTokenizer(other));
        assertTrue(e.getMessage().contains("tokenizer.ggml.pre is \"llama-bpe\"") && e.getMessage().contains("--tokenizer"),
                e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void mergesAreThePairsEachTokenIsBuiltFrom() throws IOException {
        try (GgufFile f = GgufFile.open(FILES.get(GgmlType.BF16))) {
            String[] tokens = f.getArray("tokenizer.ggml.tokens").toStringArray();
            String[] merges = f.getArray("tokenizer.ggml.merges").toStringArray();
            Map<String, Integer> ids = new java.util.HashMap<>();
            for (int i = 0; i < tokens.length; i++) {
                ids.put(tokens[i], i);
            }
            assertTrue(merges.length > 200, "merges: " + merges.length);
            int previous = -1;
            for (String m : merges) {
                String[] pair = m.split(" ", -1);
                assertEquals(2, pair.length, m);
                Integer merged = ids.get(pair[0] + pair[1]);
                assertNotNull(merged, m);
                assertTrue(ids.get(pair[0]) < merged && ids.get(pair[1]) < merged, m);
                assertTrue(merged > previous, "merges in rank order: " + m);
                previous = merged;
            }
            assertEquals("Ġ", ByteLevelVocab.spell(new byte[] {' '}));
            assertEquals("Ċ", ByteLevelVocab.spell(new byte[] {'\n'}));
            assertFalse(String.join("", tokens).contains(" "), "GPT-2 spelling has no raw spaces outside specials");
        }
    }
}
