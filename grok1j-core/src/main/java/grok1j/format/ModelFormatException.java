package grok1j.format;

import java.io.IOException;

/**
 * A model file set that cannot be used: missing or truncated files, a pickle that does something other than
 * rebuild numpy arrays, shapes that disagree with the config. Checked (an {@link IOException}) because it is
 * thrown only while opening, where I/O errors are expected anyway.
 *
 * <p>The message is always a single line that names the file (or path) first and then what was expected and what
 * was found, e.g. {@code "tensor00005_000: offset 23: refusing global os.system"}, so the CLI can print it as is
 * (DESIGN.md principle 8).
 */
public class ModelFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    public ModelFormatException(String message) {
        super(oneLine(message));
    }

    public ModelFormatException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    /** Folds line breaks so a message built from file content can never span lines. */
    private static String oneLine(String message) {
        return message.replace('\r', ' ').replace('\n', ' ');
    }
}
