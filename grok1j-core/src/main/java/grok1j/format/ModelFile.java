package grok1j.format;

import grok1j.model.GrokWeights;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * An opened model file set (official checkpoint folder or GGUF): memory-mapped, with the weights as views.
 * Closing it releases the mappings; the weights must not be used afterwards.
 */
public interface ModelFile extends AutoCloseable {

    /** The weights, every shape checked against the config. */
    GrokWeights weights();

    /** Every stored tensor, in file order, for {@code inspect}. */
    List<TensorInfo> tensors();

    /** Format-level key/values for {@code inspect} (format name, version, GGUF metadata ...), in display order. */
    Map<String, String> metadata();

    /** The path the user gave, resolved (the folder holding {@code ckpt-0/}, or the GGUF file). */
    Path location();

    /** A {@code tokenizer.model} found next to the weights (official layout), or null if none was found. */
    Path tokenizerPath();

    /** The memory-mapped files that hold the weights, whole, for {@link Prefetch}; empty if nothing is mapped. */
    default List<java.lang.foreign.MemorySegment> mappings() {
        return List.of();
    }

    /**
     * Copies weights whose stored layout the kernels run slowly on into a faster one, in memory of the model's own,
     * when the copy fits (GGUF: {@code GgufModel#repack}): the whole model's in one process, rank {@code rank}'s
     * slices of a tensor-parallel job. Afterwards {@link #weights()} holds the copies (which that rank's
     * {@code Partition} cuts out) and, in one process, {@link #mappings()} leaves out the file ranges they replace.
     * Call before the weights are used.
     *
     * @return the bytes copied, 0 if nothing was (the default: formats whose layout the kernels read as it is; also
     *         a split the model does not allow, which the forward pass then reports)
     */
    default long repack(int rank, int ranks) {
        return repack(rank, ranks, 1, Prefetch.memAvailable());
    }

    /**
     * {@link #repack(int, int)} for {@code ranksOnHost} ranks on this host, which share its {@code memAvailable}
     * bytes (read by each before any of them copied): the copy is made when all of theirs fit.
     */
    default long repack(int rank, int ranks, int ranksOnHost, long memAvailable) {
        return 0;
    }

    /**
     * The bytes {@link #repack(int, int, int, long)} would copy with these arguments, 0 if it would copy nothing (the
     * default): for a progress line before a copy that can take minutes.
     */
    default long repackBytes(int rank, int ranks, int ranksOnHost, long memAvailable) {
        return 0;
    }

    /** Bytes {@link #repack(int, int)} copied: memory this model holds beside its mapped files (0 if none). */
    default long copiedBytes() {
        return 0;
    }

    @Override
    void close();
}
