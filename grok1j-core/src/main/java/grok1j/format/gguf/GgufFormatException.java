package grok1j.format.gguf;

import java.nio.file.Path;

/**
 * A GGUF file that cannot be read: truncated, inconsistent, hostile, or using a feature grok1j does not support.
 * The message is one line naming the file and the byte offset or tensor at fault, what was expected and what was
 * found, so the CLI can print it as is.
 */
public final class GgufFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public GgufFormatException(String message) {
        // names and keys come from the file: fold line breaks so the message stays one line
        super(message.replace('\r', ' ').replace('\n', ' '));
    }

    /** {@code "<file>: offset <offset>: <what>"}. */
    public static GgufFormatException at(Path file, long offset, String what) {
        return new GgufFormatException(file + ": offset " + offset + ": " + what);
    }

    /** {@code "<file>: tensor <name>: <what>"}. */
    public static GgufFormatException tensor(Path file, String tensor, String what) {
        return new GgufFormatException(file + ": tensor " + tensor + ": " + what);
    }
}
