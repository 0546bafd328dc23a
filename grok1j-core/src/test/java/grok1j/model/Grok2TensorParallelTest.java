package grok1j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import grok1j.TestFiles;
import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.format.gguf.RandomCheckpoint;
import grok1j.parallel.InProcessGroup;
import grok1j.tensor.ThreadPool;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tensor parallelism of the Grok-2 architecture (residual dense MLP cut like an expert, untied output cut by
 * vocabulary, router and final caps, attention temperature) with in-process ranks, on cuttable int8 weights; and the
 * one-line refusal for the bf16 safetensors release, whose matrices cannot be cut into rank slices yet.
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

    @Test
    void theBf16ReleaseRefusesTensorParallelismInOneLine() throws Exception {
        try (ModelFile file = ModelFiles.open(TestFiles.grok2Tiny())) {
            InProcessGroup g = new InProcessGroup(2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Transformer(file.weights(), new ThreadPool(1), g.rank(0)));
            assertEquals("tensor parallelism over 2 ranks: bf16 weights (the Grok-2 safetensors release) cannot be cut into rank"
                    + " slices yet; run the model on one process", e.getMessage());
        }
    }
}
