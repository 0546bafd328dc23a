package grok1j.tokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The Grok-1 tokenizer: SentencePiece BPE with byte fallback, encoding and decoding exactly as SentencePiece 0.1.97
 * does for {@code tokenizer.model} (spec §7).
 *
 * <p>Encoding (§7.2): "▁" is prepended and every space becomes "▁" (no other normalization: no NFKC, newlines and
 * tabs unchanged); the longest user-defined piece at each position is kept whole; the remaining code points are merged
 * pairwise by BPE, highest piece score first and leftmost first on ties; a symbol that is not a piece is emitted as
 * the {@code <0xXX>} pieces of its UTF-8 bytes (ids 69-324 in Grok-1). No BOS or EOS is added.
 *
 * <p>Decoding (§7.3): control pieces vanish, the unknown piece becomes the model's {@code unk_surface}
 * ({@code "[UNK]"} in Grok-1), runs of byte pieces are decoded as UTF-8 with one U+FFFD per invalid byte, "▁"
 * becomes a space, and the leading "▁" of the first text piece is dropped (the dummy prefix).
 *
 * <p>Immutable and thread-safe. Token ids are {@code int}s in {@code [0, vocabSize())}.
 */
public final class SentencePieceTokenizer implements Tokenizer {
    private final Vocabulary vocab;
    private final int unkId;
    private final int bosId;
    private final int eosId;
    private final int padId;

    /**
     * Prepares a tokenizer for a parsed model.
     *
     * @param model a model accepted by {@link SentencePieceModel#read(Path)}
     */
    public SentencePieceTokenizer(SentencePieceModel model) {
        this.vocab = new Vocabulary(model);
        SentencePieceModel.TrainerSpec trainer = model.trainer();
        // As SentencePieceProcessor::bos_id() etc.: the id of the named piece, if it has the right type.
        unkId = idIfType(trainer.unkPiece(), PieceType.UNKNOWN);
        bosId = idIfType(trainer.bosPiece(), PieceType.CONTROL);
        eosId = idIfType(trainer.eosPiece(), PieceType.CONTROL);
        padId = idIfType(trainer.padPiece(), PieceType.CONTROL);
    }

    /**
     * Reads {@code tokenizer.model} and prepares a tokenizer (Grok-1: about 0.1-0.3 s).
     *
     * @param file path of a SentencePiece BPE model
     * @return the tokenizer
     * @throws TokenizerFormatException if the file is not a SentencePiece model grok1j can use; the message names the
     *     file and, for a damaged file, the byte offset
     * @throws IOException if the file cannot be read
     */
    public static SentencePieceTokenizer load(Path file) throws IOException {
        return new SentencePieceTokenizer(SentencePieceModel.read(file));
    }

    /**
     * Encodes UTF-8 bytes as SentencePiece encodes a byte string: each well-formed character as itself and every byte
     * that does not begin a well-formed character as one U+FFFD (so a cut three-byte character gives two U+FFFD,
     * where Java's decoder would give one and the ids would differ), then as {@link #encode(String)}.
     *
     * @param utf8 the text's bytes, possibly not well-formed
     * @return the ids, {@code []} for no bytes
     */
    public int[] encode(byte[] utf8) {
        Objects.requireNonNull(utf8, "utf8");
        StringBuilder text = new StringBuilder(utf8.length);
        Utf8.decodeRun(utf8, 0, utf8.length, text);
        return encode(text.toString());
    }

    /**
     * Encodes text into token ids (spec §7.2), without BOS or EOS. O(n log n) in the text length.
     *
     * @param text any text; a lone UTF-16 surrogate is encoded as U+FFFD
     * @return the ids, {@code []} for the empty string
     */
    @Override
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text");
        return BpeEncoder.encode(vocab, vocab.normalize(text));
    }

    /**
     * Decodes {@code ids[from, to)} as if it were the whole sequence (so its first text piece loses its leading
     * space).
     *
     * @throws IndexOutOfBoundsException if the range is not within the array
     * @throws IllegalArgumentException  if an id is outside {@code [0, vocabSize())}
     */
    @Override
    public String decode(int[] ids, int from, int to) {
        Objects.checkFromToIndex(from, to, ids.length);
        SentencePieceDecoder decoder = new SentencePieceDecoder(this, true);
        StringBuilder out = new StringBuilder();
        for (int i = from; i < to; i++) {
            decoder.push(ids[i], out);
        }
        decoder.flush(out);
        return out.toString();
    }

    /** @return a new {@link StreamingDecoder} that decodes like {@link #decode(int[])} */
    @Override
    public StreamingDecoder streamingDecoder() {
        return new SentencePieceDecoder(this, true);
    }

    /**
     * @param dropLeadingSpace true to drop the leading "▁" of the first text piece (as {@link #decode(int[])} does);
     *                         false to keep every space, e.g. when the stream continues text already displayed
     * @return a new streaming decoder
     */
    public StreamingDecoder streamingDecoder(boolean dropLeadingSpace) {
        return new SentencePieceDecoder(this, dropLeadingSpace);
    }

    /**
     * @return the text of piece {@code id} as stored in the model: "▁" for spaces, {@code <0xXX>} for byte pieces
     * @throws IndexOutOfBoundsException if the id is outside {@code [0, vocabSize())}
     */
    @Override
    public String piece(int id) {
        Objects.checkIndex(id, vocab.size());
        return vocab.piece(id);
    }

    /**
     * @return the type of piece {@code id}
     * @throws IndexOutOfBoundsException if the id is outside {@code [0, vocabSize())}
     */
    @Override
    public PieceType type(int id) {
        Objects.checkIndex(id, vocab.size());
        return vocab.type(id);
    }

    /**
     * @return the byte a byte-fallback piece ({@code <0xXX>}) stands for, or -1 if {@code id} is another kind of piece
     * @throws IndexOutOfBoundsException if the id is outside {@code [0, vocabSize())}
     */
    @Override
    public int byteValue(int id) {
        Objects.checkIndex(id, vocab.size());
        return vocab.byteValue(id);
    }

    /** @return the id of the piece with exactly this text ("▁" for spaces), or -1 if there is none */
    @Override
    public int pieceId(String piece) {
        return vocab.pieceId(piece);
    }

    /** @return the number of pieces (Grok-1: 131,072) */
    @Override
    public int vocabSize() {
        return vocab.size();
    }

    /** @return the id of the unknown piece (Grok-1: 3, {@code [UNK]}) */
    @Override
    public int unkId() {
        return unkId;
    }

    /** @return the BOS id (Grok-1: 1, {@code [BOS]}; the reference never adds it), or -1 if the model has none */
    @Override
    public int bosId() {
        return bosId;
    }

    /** @return the EOS id (Grok-1: 2, {@code [EOS]}), or -1 if the model has none */
    @Override
    public int eosId() {
        return eosId;
    }

    /** @return the padding id (Grok-1: 0, {@code [PAD]}), or -1 if the model has none */
    @Override
    public int padId() {
        return padId;
    }

    /** @return the model this tokenizer was built from */
    public SentencePieceModel model() {
        return vocab.model();
    }

    Vocabulary vocabulary() {
        return vocab;
    }

    private int idIfType(String piece, PieceType type) {
        int id = vocab.pieceId(piece);
        if (id < 0) {
            id = vocab.unknownId(); // SentencePiece's PieceToId answers the unknown id for an absent piece
        }
        return vocab.type(id) == type ? id : -1;
    }
}
