/**
 * The Grok-1 tokenizer (spec §7): a reader for SentencePiece {@code tokenizer.model} files
 * ({@link grok1j.tokenizer.SentencePieceModel}, a hand-written protobuf reader, no dependencies), BPE encoding and
 * decoding identical to SentencePiece ({@link grok1j.tokenizer.Tokenizer}), and a
 * {@link grok1j.tokenizer.StreamingDecoder} that turns generated ids into text without splitting UTF-8 characters.
 *
 * <pre>{@code
 * Tokenizer tok = Tokenizer.load(Path.of("tokenizer.model"));
 * int[] ids = tok.encode("The answer to life the universe and everything is of course");
 * String text = tok.decode(ids);
 * }</pre>
 */
package grok1j.tokenizer;
