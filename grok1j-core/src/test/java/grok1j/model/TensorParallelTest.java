package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.TestFiles;
import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.format.gguf.RandomCheckpoint;
import grok1j.generate.GenerationContext;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.parallel.Communicator;
import grok1j.parallel.CommunicatorException;
import grok1j.parallel.InProcessGroup;
import grok1j.tensor.ThreadPool;
import grok1j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tensor parallelism with ranks as threads of this JVM (spec distributed.md §4.1): the sliced forward pass on N ranks
 * against the whole model on one, on the shared fixture (N = 2) and on models written here with 3 and 6 KV heads and
 * FFN widths whose rank boundaries cut scale groups (N = 2, 3). Logits within 1e-5 at every position, identical
 * greedy tokens, and bit-identical residuals on every rank.
 */
public class TensorParallelTest {
    static final double TOLERANCE = 1e-5;

    @TempDir
    Path dir;

    /** 6 KV heads of 2 query heads, FFN 96 in 8 scale groups of 12 rows: N = 3 cuts at 32 and 64, inside groups. */
    static GrokConfig sixKvHeads() {
        return new GrokConfig(512, 48, 3, 12, 6, 8, 96, 4, 2, 128, 10000, 1e-5, 78.38367176906169,
                0.5773502691896257, 1 / Math.sqrt(8), 30.0, 0, 1, 2);
    }

    /** 3 KV heads, FFN 100 (ranks of 33, 33 and 34 columns, groups of 25 rows), vocabulary 500 (not divisible by 3). */
    static GrokConfig threeKvHeads() {
        return new GrokConfig(500, 32, 2, 6, 3, 8, 100, 4, 2, 128, 10000, 1e-5, 78.38367176906169,
                0.5773502691896257, 1 / Math.sqrt(8), 30.0, 0, 1, 2);
    }

    @Test
    void fixtureOnTwoRanks() throws Exception {
        try (ModelFile file = ModelFiles.open(TestFiles.tinyModel())) {
            Tokenizer tok = ModelFiles.tokenizer(file, null);
            int[] prompt = tok.encode("The answer to life the universe and everything is of course");
            compare(file.weights(), 2, List.of(prompt, tok.encode("Hello")), tok);
        }
    }

    @Test
    void sixKvHeadsOnTwoAndThreeRanks() throws Exception {
        GrokConfig c = sixKvHeads();
        Path root = RandomCheckpoint.write(dir.resolve("six"), new RandomCheckpoint.Shape(c, 0.02, 3.0, 16.0, 1.0, 8, 8), 5);
        try (ModelFile file = ModelFiles.open(root)) {
            List<int[]> prompts = List.of(randomIds(c, 37, 1), randomIds(c, 5, 2), randomIds(c, 1, 3));
            compare(file.weights(), 2, prompts, null);
            compare(file.weights(), 3, prompts, null);
        }
    }

    @Test
    void threeKvHeadsOnThreeRanks() throws Exception {
        GrokConfig c = threeKvHeads();
        Path root = RandomCheckpoint.write(dir.resolve("three"), new RandomCheckpoint.Shape(c, 0.02, 3.0, 16.0, 1.0, 2, 4), 6);
        try (ModelFile file = ModelFiles.open(root)) {
            compare(file.weights(), 3, List.of(randomIds(c, 20, 4), randomIds(c, 9, 5)), null);
        }
    }

    @Test
    void rankCountMustDivideTheKvHeads() throws Exception {
        try (ModelFile file = ModelFiles.open(TestFiles.tinyModel())) {
            InProcessGroup g = new InProcessGroup(3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Transformer(file.weights(), new ThreadPool(1), g.rank(0)));
            assertEquals("tensor parallelism over 3 ranks needs a rank count that divides the 2 KV heads: 1, 2", e.getMessage());
        }
    }

    @Test
    void aFailedRankEndsTheOthersCollectivesNamingIt() throws Exception {
        try (ModelFile file = ModelFiles.open(TestFiles.tinyModel())) {
            InProcessGroup g = new InProcessGroup(2, 30_000);
            Transformer leader = new Transformer(file.weights(), new ThreadPool(1), g.rank(0));
            new Transformer(file.weights(), new ThreadPool(1), g.rank(1)); // rank 1 never follows: it "dies"
            g.fail(1, "killed");
            CommunicatorException e = assertThrows(CommunicatorException.class,
                    () -> leader.forward(new int[] {5, 6}, 0, 2, leader.newCache(), Transformer.Logits.LAST));
            assertTrue(e.getMessage().startsWith("rank 1 on "), e.getMessage());
            assertTrue(e.getMessage().endsWith("failed: killed"), e.getMessage());
        }
    }

    /** Four ranks on hosts a, b, a, a: each learns how many ranks share its host (they share its memory at open). */
    @Test
    void ranksCountTheRanksOnTheirHost() throws Exception {
        InProcessGroup g = new InProcessGroup(4, 30_000);
        String[] hosts = {"a", "b", "a", "a"};
        var pool = java.util.concurrent.Executors.newFixedThreadPool(4);
        try {
            List<java.util.concurrent.Future<Integer>> counts = new ArrayList<>();
            for (int r = 0; r < 4; r++) {
                Communicator on = onHost(g.rank(r), hosts[r]);
                counts.add(pool.submit(() -> Model.ranksOnThisHost(on)));
            }
            int[] got = new int[4];
            for (int r = 0; r < 4; r++) {
                got[r] = counts.get(r).get(60, java.util.concurrent.TimeUnit.SECONDS);
            }
            org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {3, 1, 3, 3}, got);
        } finally {
            pool.shutdownNow();
        }
    }

    /** {@code c} reporting {@code host} as its host name. */
    private static Communicator onHost(Communicator c, String host) {
        return new Communicator() {
            @Override public int rank() { return c.rank(); }
            @Override public int size() { return c.size(); }
            @Override public String hostName() { return host; }
            @Override public void allReduceSum(float[] d, int o, int n) { c.allReduceSum(d, o, n); }
            @Override public void broadcast(int[] d, int o, int n, int root) { c.broadcast(d, o, n, root); }
            @Override public void broadcast(byte[] d, int o, int n, int root) { c.broadcast(d, o, n, root); }
            @Override public void gather(float[] s, int so, int n, float[] r, int ro, int root) { c.gather(s, so, n, r, ro, root); }
            @Override public void gather(byte[] s, int so, int n, byte[] r, int ro, int root) { c.gather(s, so, n, r, ro, root); }
            @Override public void barrier() { c.barrier(); }
            @Override public void close() { c.close(); }
        };
    }

    static int[] randomIds(GrokConfig c, int n, long seed) {
        Random r = new Random(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = 3 + r.nextInt(c.vocabSize() - 3);
        }
        return ids;
    }

    /**
     * Runs every prompt (all positions' logits, then a cached decode step; with a tokenizer also 12 greedy tokens) on
     * one process and on {@code ranks} in-process ranks, and compares.
     */
    public static void compare(GrokWeights weights, int ranks, List<int[]> prompts, Tokenizer tok) throws Exception {
        Transformer single = new Transformer(weights, new ThreadPool(1));
        List<float[]> want = new ArrayList<>();
        List<float[]> wantResidual = new ArrayList<>();
        for (int[] p : prompts) {
            KvCache cache = single.newCache();
            want.add(single.forward(p, 0, p.length, cache, Transformer.Logits.ALL));
            want.add(single.forward(new int[] {p[0]}, 0, 1, cache, Transformer.Logits.LAST));
            wantResidual.add(single.lastResidual());
        }
        int[] wantTokens = tok == null ? null : greedy(single, tok, prompts.getFirst());

        InProcessGroup group = new InProcessGroup(ranks);
        Transformer[] rank = new Transformer[ranks];
        for (int r = 0; r < ranks; r++) {
            rank[r] = new Transformer(weights, new ThreadPool(1), group.rank(r));
            assertEquals(weights.config().kvHeads() / ranks, rank[r].partition().kvHeads());
        }
        // every rank's residual after each call: followers record theirs while following
        ExecutorService ex = Executors.newFixedThreadPool(ranks);
        try {
            List<Future<List<float[]>>> followers = new ArrayList<>();
            for (int r = 1; r < ranks; r++) {
                Transformer me = rank[r];
                followers.add(ex.submit(() -> followAndRecord(me, group, r0(me))));
            }
            Transformer leader = rank[0];
            List<float[]> leaderResidual = new ArrayList<>();
            List<float[]> got = new ArrayList<>();
            for (int[] p : prompts) {
                KvCache cache = leader.newCache();
                got.add(leader.forward(p, 0, p.length, cache, Transformer.Logits.ALL));
                got.add(leader.forward(new int[] {p[0]}, 0, 1, cache, Transformer.Logits.LAST));
                leaderResidual.add(leader.lastResidual());
            }
            int[] gotTokens = tok == null ? null : greedy(leader, tok, prompts.getFirst());
            leader.stopFollowers();
            for (int i = 0; i < want.size(); i++) {
                float[] w = want.get(i), g = got.get(i);
                assertEquals(w.length, g.length);
                double worst = 0;
                for (int j = 0; j < w.length; j++) {
                    worst = Math.max(worst, Math.abs(w[j] - g[j]));
                }
                assertTrue(worst <= TOLERANCE, ranks + " ranks, call " + i + ": max |delta logit| " + worst);
            }
            if (tok != null) {
                assertArrayEquals(wantTokens, gotTokens, "greedy tokens on " + ranks + " ranks");
            }
            for (Future<List<float[]>> f : followers) {
                List<float[]> theirs = f.get(60, TimeUnit.SECONDS);
                // the residual of each prompt's decode step (the calls' 2nd, 4th, ...), bit for bit rank 0's
                for (int p = 0; p < prompts.size(); p++) {
                    assertArrayEquals(leaderResidual.get(p), theirs.get(2 * p + 1), "residual after prompt " + p);
                }
            }
            for (int p = 0; p < prompts.size(); p++) {
                float[] w = wantResidual.get(p), g = leaderResidual.get(p);
                for (int j = 0; j < w.length; j++) {
                    assertEquals(w[j], g[j], 1e-4 * (1 + Math.abs(w[j])), "residual vs one process");
                }
            }
        } finally {
            ex.shutdownNow();
        }
    }

    private static int r0(Transformer g) {
        return g.partition().rank();
    }

    /** Follows rank 0 one call at a time, recording the residual after each. */
    private static List<float[]> followAndRecord(Transformer me, InProcessGroup group, int rank) {
        List<float[]> residuals = new ArrayList<>();
        try {
            me.follow(() -> residuals.add(me.lastResidual()));
        } catch (RuntimeException e) {
            group.fail(rank, e.toString());
            throw e;
        }
        return residuals;
    }

    private static int[] greedy(Transformer model, Tokenizer tok, int[] prompt) {
        GenerationContext ctx = new GenerationContext(model, tok);
        GenerationResult r = ctx.generate(prompt, SamplingParams.greedy(12), (id, text) -> { });
        return r.ids();
    }
}
