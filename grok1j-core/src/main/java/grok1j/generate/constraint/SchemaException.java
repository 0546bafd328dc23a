package grok1j.generate.constraint;

/** A JSON schema grok1j cannot constrain to: an unsupported keyword, or a value it cannot use. */
public final class SchemaException extends IllegalArgumentException {
    private final String keyword;

    SchemaException(String keyword, String message) {
        super(message);
        this.keyword = keyword;
    }

    /** @return the schema keyword at fault (e.g. {@code "pattern"}), or null when the schema as a whole is */
    public String keyword() {
        return keyword;
    }
}
