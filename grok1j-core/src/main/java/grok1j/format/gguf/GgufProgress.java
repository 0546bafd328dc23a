package grok1j.format.gguf;

/**
 * Progress of a GGUF write or conversion, called after each chunk of tensor data (a few MB) is written, from the
 * writing thread. {@code bytesDone} and {@code bytesTotal} count tensor data bytes over all output files, so a
 * progress bar can show bytes and an ETA.
 */
@FunctionalInterface
public interface GgufProgress {
    /** A progress callback that ignores every update. */
    GgufProgress NONE = (tensor, done, total) -> { };

    /**
     * @param tensor     the tensor being written
     * @param bytesDone  tensor data bytes written so far
     * @param bytesTotal tensor data bytes to write in all
     */
    void update(String tensor, long bytesDone, long bytesTotal);
}
