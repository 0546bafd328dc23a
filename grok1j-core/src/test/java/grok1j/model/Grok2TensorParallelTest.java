package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import grok1j.format.ModelFile;
import grok1j.format.Json;
import grok1j.format.ModelFiles;
import grok1j.format.safetensors.Grok2Model;
import grok1j.format.gguf.RandomCheckpoint;
import grok1j.parallel.InProcessGroup;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.WeightMatrix;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tensor parallelism of the Grok-2 architecture (residual dense MLP cut like an expert, untied output cut by
 * vocabulary, router and final caps, attention temperature) with in-process ranks, on int8 weights (N = 2, 3) and on
 * the bf16 release layout itself (grok-2-tiny, N = 2), whose experts are views over the rank slice files.
 */
class Grok2TensorParallelTest {
    @TempDir
    Path dir;

    /**
     * A random int8 model given Grok-2's switches: expert 0's matrices double as the dense MLP (FFN 96: N = 3 cuts
     * inside scale groups), the embedding's transpose as a separate (untied) output, temperature length 3.
     */
    static GrokWeights asGrok2(GrokWeights w) {
        GrokConfig c = w.config();
        GrokConfig g = new GrokConfig(c.vocabSize(), c.dModel(), c.layers(), c.queryHeads(), c.kvHeads(), c.headDim(),
                c.expertFfn(), c.experts(), c.expertsPerToken(), c.contextLength(), 208533496, c.rmsEps(),
                Math.sqrt(c.dModel()), 0.5, c.attnOutputMultiplier(), c.attnSoftcap(), -1, -1, 2,
                Architecture.grok2(3, 50, c.expertFfn()));
        List<LayerWeights> layers = new ArrayList<>();
        for (LayerWeights l : w.layers()) {
            layers.add(new LayerWeights(l.attnNorm(), l.query(), l.key(), l.value(), l.attnOutput(), l.postAttnNorm(),
                    l.preMoeNorm(), l.router(), l.gate(), l.up(), l.down(), l.postMoeNorm(), l.gate()[0], l.up()[0], l.down()[0]));
        }
        return new GrokWeights(g, w.embedding(), w.finalNorm(), layers, w.embedding().unembedding());
    }

    @Test
    void grok2ArchitectureOnTwoAndThreeRanks() throws Exception {
        GrokConfig c = TensorParallelTest.sixKvHeads();
        Path root = RandomCheckpoint.write(dir.resolve("six"), new RandomCheckpoint.Shape(c, 0.02, 3.0, 16.0, 1.0, 8, 8), 7);
        try (ModelFile file = ModelFiles.open(root)) {
            GrokWeights w = asGrok2(file.weights());
            List<int[]> prompts = List.of(TensorParallelTest.randomIds(c, 29, 1), TensorParallelTest.randomIds(c, 4, 2));
            TensorParallelTest.compare(w, 2, prompts, null);
            TensorParallelTest.compare(w, 3, prompts, null);
        }
    }

    /**
     * The bf16 release itself on 2 in-process ranks (its 2 KV heads allow N = 1, 2): each rank's experts are views
     * across 4 of the 8 rank slices. Logits at every position of every fixture prompt within the fixture's tolerance
     * of one process and of the reference, and the reference's 12 greedy tokens.
     */
    @Test
    @SuppressWarnings("unchecked")
    void grok2TinyOnTwoRanksMatchesOneProcessAndTheReference() throws Exception {
        Map<String, Object> expected = (Map<String, Object>) Json.parse(
                Files.readString(TestFiles.grok2Tiny().resolve("expected.json")));
        try (ModelFile file = ModelFiles.open(TestFiles.grok2Tiny())) {
            GrokWeights w = file.weights();
            int vocab = w.config().vocabSize();
            Transformer single = new Transformer(w, new ThreadPool(1));
            InProcessGroup group = new InProcessGroup(2);
            Transformer leader = new Transformer(w, new ThreadPool(1), group.rank(0));
            Transformer follower = new Transformer(w, new ThreadPool(1), group.rank(1));
            assertEquals(1, leader.partition().kvHeads());
            ExecutorService ex = Executors.newSingleThreadExecutor();
            try {
                Future<?> follows = ex.submit(() -> follower.follow(() -> { }));
                for (Map<String, Object> c : (List<Map<String, Object>>) expected.get("cases")) {
                    int[] prompt = Grok2FixtureTest.ints(c.get("prompt_ids"));
                    float[] want = single.forward(prompt, 0, prompt.length, single.newCache(), Transformer.Logits.ALL);
                    KvCache cache = leader.newCache();
                    float[] got = leader.forward(prompt, 0, prompt.length, cache, Transformer.Logits.ALL);
                    assertEquals(want.length, got.length);
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(want[i], got[i], 2e-3, "2 ranks vs one process, logit " + i);
                    }
                    List<List<List<Number>>> top = (List<List<List<Number>>>) c.get("top10_per_position");
                    for (int p = 0; p < prompt.length; p++) {
                        for (List<Number> e : top.get(p)) {
                            assertEquals(e.get(1).doubleValue(), got[p * vocab + e.get(0).intValue()], 2e-3,
                                    "position " + p + " token " + e.get(0));
                        }
                    }
                    float[] last = java.util.Arrays.copyOfRange(got, (prompt.length - 1) * vocab, prompt.length * vocab);
                    for (Map<String, Object> g : (List<Map<String, Object>>) c.get("greedy")) {
                        int next = argmax(last);
                        assertEquals(((Number) g.get("token")).intValue(), next);
                        last = leader.forward(new int[] {next}, 0, 1, cache, Transformer.Logits.LAST);
                    }
                }
                leader.stopFollowers();
                follows.get(60, TimeUnit.SECONDS);
            } finally {
                ex.shutdownNow();
            }
        }
    }

    /**
     * With N = 8 rank r's experts are exactly the slices in the files {@code -TP-00r} (grok-2 spec §3.2): in a copy of
     * the fixture whose other expert files hold NaN, rank 3's gate, up and down products equal the clean ones.
     */
    @Test
    void rankOfEightReadsOnlyItsOwnExpertFiles() throws Exception {
        Path copy = dir.resolve("grok-2-poisoned");
        Files.createDirectories(copy);
        try (var files = Files.list(TestFiles.grok2Tiny())) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        int poisoned = 0;
        try (var files = Files.list(copy)) {
            for (Path f : files.toList()) {
                String n = f.getFileName().toString();
                if (n.matches("pytorch_model-\\d{5}-TP-\\d{3}\\.safetensors") && !n.endsWith("-TP-003.safetensors")) {
                    poisonData(f);
                    poisoned++;
                }
            }
        }
        assertEquals(21, poisoned);
        try (Grok2Model clean = Grok2Model.open(TestFiles.grok2Tiny()); Grok2Model bad = Grok2Model.open(copy)) {
            GrokConfig c = clean.weights().config();
            int s = c.expertFfn() / 8; // rank 3 of 8 owns FFN columns [3F/8, 4F/8) (Partition; the fixture's 2 KV heads
                                       // stop a whole 8-rank model, so the expert views are taken directly)
            for (int l = 0; l < c.layers(); l++) {
                for (int e = 0; e < c.experts(); e++) {
                    for (String w : List.of("w1", "w3")) {
                        WeightMatrix good = clean.checkpoint().expertMatrix(l, e, w).columns(3 * s, 4 * s);
                        WeightMatrix mine = bad.checkpoint().expertMatrix(l, e, w).columns(3 * s, 4 * s);
                        assertEquals("bf16", mine.typeName());
                        assertProductsEqual(good, mine);
                    }
                    WeightMatrix good = clean.checkpoint().expertMatrix(l, e, "w2").rows(3 * s, 4 * s);
                    WeightMatrix mine = bad.checkpoint().expertMatrix(l, e, "w2").rows(3 * s, 4 * s);
                    assertEquals("bf16", mine.typeName());
                    assertProductsEqual(good, mine);
                }
            }
        }
    }

    private static void assertProductsEqual(WeightMatrix good, WeightMatrix mine) {
        for (int tokens : new int[] {1, 3, 9}) {
            float[] x = new float[tokens * good.inputDim()];
            java.util.Random r = new java.util.Random(tokens);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            float[] a = new float[tokens * good.outputDim()], b = new float[a.length];
            good.multiply(x, tokens, a, 0, good.outputDim());
            mine.multiply(x, tokens, b, 0, mine.outputDim());
            assertArrayEquals(a, b, tokens + " tokens");
            for (float v : b) {
                assertTrue(Float.isFinite(v));
            }
        }
    }

    /** Overwrites a safetensors file's data section (after its header) with bf16 NaN (0x7FC0). */
    private static void poisonData(Path f) throws java.io.IOException {
        byte[] all = Files.readAllBytes(f);
        long n = java.nio.ByteBuffer.wrap(all, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        for (int i = (int) (8 + n); i + 1 < all.length; i += 2) {
            all[i] = (byte) 0xC0;
            all[i + 1] = 0x7F;
        }
        Files.write(f, all);
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
