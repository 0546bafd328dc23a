package grok1j.generate.constraint;

/**
 * Restricts which tokens a sequence may generate, so that its text stays a prefix of a document of some language (a
 * JSON schema, ...). Immutable and shareable: each sequence gets its own {@link Matcher}.
 */
public interface TokenConstraint {
    /** @return a matcher at the start of the document */
    Matcher start();

    /** One sequence's position in the document. Not thread-safe. */
    interface Matcher {
        /**
         * Sets the logits of the tokens that may not come next to negative infinity. With few tokens left, only tokens
         * after which the document can still be completed in time are allowed (when none can, all valid ones are).
         *
         * @param logits    {@code [vocab]}, modified in place
         * @param remaining tokens the sequence may still generate, this one included
         */
        void mask(float[] logits, int remaining);

        /**
         * Advances past a token.
         *
         * @throws IllegalStateException if the token was not allowed (masked)
         */
        void accept(int id);

        /** @return true when the text so far is a complete document */
        boolean complete();

        /** @return true when the document is complete and nothing may follow (generation should end) */
        boolean finished();
    }
}
