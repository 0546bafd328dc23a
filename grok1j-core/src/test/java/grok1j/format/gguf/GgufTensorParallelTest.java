package grok1j.format.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.model.GrokConfig;
import grok1j.model.GrokWeights;
import grok1j.model.LayerWeights;
import grok1j.model.TensorParallelTest;
import grok1j.model.Transformer;
import grok1j.parallel.InProcessGroup;
import grok1j.tensor.GgmlType;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.WeightMatrix;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tensor parallelism over GGUF files (spec distributed.md §2, issue: "GGUF splits at block boundaries"): a rank's
 * slices are views of the file; a cut inside a quantization block is refused naming the tensor.
 */
class GgufTensorParallelTest {
    @TempDir
    Path dir;

    /** A model whose expert down projections (96 rows, one scale group) are stored quantized by a Q8_0 conversion. */
    static GrokWeights model() {
        GrokConfig c = TinyGrok.config(64, 96, 300);
        GrokWeights w = TinyGrok.weights(c, 3);
        Random r = new Random(4);
        List<LayerWeights> layers = new ArrayList<>();
        for (LayerWeights lw : w.layers()) {
            WeightMatrix[] down = new WeightMatrix[lw.down().length];
            for (int e = 0; e < down.length; e++) {
                down[e] = TinyGrok.int8(r, 96, 64, 1);
            }
            layers.add(new LayerWeights(lw.attnNorm(), lw.query(), lw.key(), lw.value(), lw.attnOutput(), lw.postAttnNorm(),
                    lw.preMoeNorm(), lw.router(), lw.gate(), lw.up(), down, lw.postMoeNorm()));
        }
        return new GrokWeights(c, w.embedding(), w.finalNorm(), layers);
    }

    @Test
    void splitsAtBlockBoundariesAndRefusesCutsInsideABlock() throws Exception {
        GrokWeights source = model();
        Path f16 = dir.resolve("f16.gguf");
        Path q8 = dir.resolve("q8_0.gguf");
        GgufConverter.convert(source, TinyGrok.vocab(300), GgmlType.F16, "t", f16, 0, null);
        GgufConverter.convert(source, TinyGrok.vocab(300), GgmlType.Q8_0, "t", q8, 0, null);
        try (ModelFile file = ModelFiles.open(f16)) {
            TensorParallelTest.compare(file.weights(), 2, List.of(new int[] {5, 17, 42, 7, 99}, new int[] {11}), null);
        }
        try (ModelFile file = ModelFiles.open(q8)) {
            assertEquals("Q8_0", file.weights().layers().getFirst().down()[0].typeName());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Transformer(file.weights(), new ThreadPool(1), new InProcessGroup(2).rank(0)));
            assertEquals("tensor parallelism over 2 ranks: layer 0 expert 0 down: cannot split a Q8_0 matrix at input rows "
                    + "[0, 48): Q8_0 blocks hold 32 elements", e.getMessage());
        }
    }
}
