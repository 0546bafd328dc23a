package grok1j.cli;

import grok1j.model.Model;
import grok1j.tensor.ThreadPool;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Option;

/** Options shared by the commands that load a model. */
final class ModelOptions {
    @Option(names = {"-m", "--model"}, required = true, paramLabel = "PATH",
            description = "Checkpoint folder (holding ckpt-0/), ckpt-0/ itself, a Grok-2 folder, or a .gguf file.")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "PATH",
            description = "tokenizer.model to use (default: found beside the checkpoint, or the GGUF's own).")
    Path tokenizer;

    @Option(names = {"-t", "--threads"}, paramLabel = "N",
            description = "Compute threads (default: all cores).")
    Integer threads;

    @Option(names = "--oversubscribe-threads",
            description = "Allow --threads above the core count (each step waits for its slowest thread).")
    boolean oversubscribe;

    /**
     * Opens the model: in one process, or this rank's slices of it under mpirun. On ranks other than 0 this does not
     * return: the rank follows rank 0's forward calls until rank 0 is done ({@link Cluster#follow}).
     */
    Model open() throws IOException {
        return open(Duration.ZERO);
    }

    /** As {@link #open()}; the other ranks of a job first warm their kernels up for {@code followerWarmup}. */
    Model open(Duration followerWarmup) throws IOException {
        // refused for every model, not only when a GGUF file's experts come to be copied (as bench and serve do)
        grok1j.format.gguf.GgufModel.checkInterleaveSetting();
        int t = ThreadCount.resolve(threads, oversubscribe);
        ThreadPool pool = threads == null ? ThreadPool.shared() : new ThreadPool(t);
        var comm = Cluster.communicator();
        // long steps of the open (a copy of the experts, reading the weights in) get a line, once per job
        Model m = Model.open(model, tokenizer, pool, comm, line -> {
            if (comm.rank() == 0) {
                CommandLineContext.err().println("grok1j: " + line);
            }
        });
        if (m.network().communicator().rank() != 0) {
            Cluster.follow(m, followerWarmup);
        }
        return m;
    }

    /** @throws IllegalArgumentException if --threads is out of range or above the core count without leave */
    void checkThreads() {
        ThreadCount.resolve(threads, oversubscribe);
    }
}
