package grok1j.generate;

/** Why generation ended, with the OpenAI spelling. */
public enum FinishReason {
    /** The end-of-sequence token or a stop string. */
    STOP,
    /** The new-token limit. */
    LENGTH;

    /** {@code "stop"} or {@code "length"}. */
    public String apiName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
