/**
 * Tokenizers behind one interface, {@link grok1j.tokenizer.Tokenizer}: Grok-1's SentencePiece
 * {@code tokenizer.model} ({@link grok1j.tokenizer.SentencePieceTokenizer}, grok-1 spec §7, with a hand-written
 * protobuf reader, no dependencies) and Grok-2's tiktoken {@code tokenizer.tok.json}
 * ({@link grok1j.tokenizer.TiktokenTokenizer}, grok-2 spec §4). Both decode through a
 * {@link grok1j.tokenizer.StreamingDecoder} that never emits half a UTF-8 character.
 *
 * <pre>{@code
 * Tokenizer tok = Tokenizer.load(Path.of("tokenizer.model"));   // or tokenizer.tok.json: chosen by content
 * int[] ids = tok.encode("The answer to life the universe and everything is of course");
 * String text = tok.decode(ids);
 * }</pre>
 */
package grok1j.tokenizer;
