package grok1j.model;

import grok1j.format.ModelFile;
import grok1j.format.ModelFiles;
import grok1j.generate.GenerationContext;
import grok1j.tensor.ThreadPool;
import grok1j.tensor.VectorModule;
import grok1j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;

/**
 * An opened Grok-1 model: memory-mapped weights, the tokenizer and the forward pass. The entry point of the Java API:
 *
 * <pre>{@code
 * try (Model model = Model.open(Path.of("grok-1"))) {
 *     GenerationContext ctx = model.newContext();
 *     GenerationResult r = ctx.generate("The answer is", SamplingParams.greedy(16), (id, text) -> System.out.print(text));
 * }
 * }</pre>
 *
 * Thread-safety: the model may be shared; each thread uses its own {@link GenerationContext}. Forward passes of
 * different contexts are serialised on the compute pool.
 */
public final class Model implements AutoCloseable {
    private final ModelFile file;
    private final Tokenizer tokenizer;
    private final Grok1 network;

    private Model(ModelFile file, Tokenizer tokenizer, Grok1 network) {
        this.file = file;
        this.tokenizer = tokenizer;
        this.network = network;
    }

    /** Opens a checkpoint folder (holding {@code ckpt-0/}, or {@code ckpt-0/} itself) or a GGUF file, with its own tokenizer. */
    public static Model open(Path path) throws IOException {
        VectorModule.require();
        return open(path, null, ThreadPool.shared());
    }

    /**
     * @param path      checkpoint folder, {@code ckpt-0/}, or {@code .gguf} file
     * @param tokenizer explicit {@code tokenizer.model}, or null to find one beside the weights (or in the GGUF)
     * @param pool      compute threads
     * @throws IOException with a one-line message naming the file and what is wrong
     * @throws IllegalStateException if the JVM was started without {@code --add-modules jdk.incubator.vector}
     */
    public static Model open(Path path, Path tokenizer, ThreadPool pool) throws IOException {
        VectorModule.require();
        ModelFile file = ModelFiles.open(path);
        try {
            Tokenizer tok = ModelFiles.tokenizer(file, tokenizer);
            if (tok.vocabSize() != file.weights().config().vocabSize()) {
                throw new IOException("tokenizer has " + tok.vocabSize() + " pieces but the model's vocabulary is "
                        + file.weights().config().vocabSize());
            }
            return new Model(file, tok, new Grok1(file.weights(), pool));
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    public GrokConfig config() {
        return network.config();
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The forward pass. */
    public Grok1 network() {
        return network;
    }

    /** The opened files (tensor listing, metadata). */
    public ModelFile file() {
        return file;
    }

    /** A new sequence with its own KV cache. */
    public GenerationContext newContext() {
        return new GenerationContext(network, tokenizer);
    }

    /** Releases the memory mappings. Contexts of this model must not be used afterwards. */
    @Override
    public void close() {
        file.close();
    }
}
