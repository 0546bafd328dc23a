package grok1j.generate;

/** Receives generated tokens as they are produced. */
@FunctionalInterface
public interface TokenListener {
    /**
     * @param id        the token just generated
     * @param textDelta new text that is now safe to show: never half a UTF-8 character and never part of a stop
     *                  string; may be empty (text is held back until it is safe)
     */
    void onToken(int id, String textDelta);

    TokenListener NONE = (id, text) -> { };
}
