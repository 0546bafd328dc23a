package grok1j.parallel;

/** A collective could not complete: a peer left, or the native library reported an error. The message is one line. */
public class CommunicatorException extends RuntimeException {
    public CommunicatorException(String message) {
        super(message);
    }

    public CommunicatorException(String message, Throwable cause) {
        super(message, cause);
    }
}
