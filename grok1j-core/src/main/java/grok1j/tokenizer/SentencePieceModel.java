package grok1j.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A SentencePiece {@code ModelProto} ({@code tokenizer.model}) as read from disk: the piece table and the trainer and
 * normalizer settings that decide how text is encoded (spec §7.1).
 *
 * <p>The file is read with a hand-written protobuf wire-format reader; unknown fields are skipped. Reading also
 * checks what SentencePiece itself checks when it loads a model (no empty or duplicate pieces, exactly one unknown
 * piece, all 256 {@code <0xXX>} pieces when byte fallback is on) and refuses the features grok1j does not implement:
 * model types other than BPE, a normalizer or denormalizer with a precompiled character map (NFKC and friends),
 * {@code remove_extra_whitespaces} and {@code treat_whitespace_as_suffix}. Every problem is reported as a
 * {@link TokenizerFormatException} whose message names the file.
 *
 * <p>Instances are immutable. Piece ids are indices into the piece table, {@code 0 <= id < size()}.
 */
public final class SentencePieceModel {
    /** Files above this size are refused before reading: real models are a few MB (Grok-1: 2.2 MB). */
    public static final long MAX_FILE_BYTES = 64L << 20;
    /** Vocabularies above this size are refused (Grok-1: 131,072 pieces). */
    public static final int MAX_PIECES = 1 << 22;

    /** {@code TrainerSpec.ModelType} values. */
    public static final int UNIGRAM = 1;
    public static final int BPE = 2;
    public static final int WORD = 3;
    public static final int CHAR = 4;

    /**
     * The {@code TrainerSpec} fields that matter for inference, with the proto defaults when a field is absent.
     *
     * @param modelType               {@link #BPE} for Grok-1 (the only type grok1j implements)
     * @param vocabSize               the vocabulary size the trainer was asked for (informational)
     * @param byteFallback            whether characters outside the vocabulary become {@code <0xXX>} byte pieces
     * @param unkId                   the {@code unk_id} field
     * @param bosId                   the {@code bos_id} field
     * @param eosId                   the {@code eos_id} field
     * @param padId                   the {@code pad_id} field (-1 = none)
     * @param unkPiece                text of the unknown piece
     * @param bosPiece                text of the BOS piece
     * @param eosPiece                text of the EOS piece
     * @param padPiece                text of the padding piece
     * @param unkSurface              what the unknown piece decodes to (default {@code " ⁇ "}; Grok-1:
     *                                {@code "[UNK]"})
     * @param treatWhitespaceAsSuffix whether "▁" ends words instead of starting them (refused when true)
     */
    public record TrainerSpec(int modelType, int vocabSize, boolean byteFallback, int unkId, int bosId, int eosId,
                              int padId, String unkPiece, String bosPiece, String eosPiece, String padPiece,
                              String unkSurface, boolean treatWhitespaceAsSuffix) {
    }

    /**
     * The {@code NormalizerSpec} fields, with the proto defaults when a field is absent.
     *
     * @param name                     normalization rule name ({@code "identity"} for Grok-1)
     * @param precompiledCharsmapBytes size of the compiled normalization table; 0 means no character mapping
     * @param addDummyPrefix           prepend "▁" to every non-empty input (and drop it again on decode)
     * @param removeExtraWhitespaces   trim and collapse spaces (refused when true)
     * @param escapeWhitespaces        replace ' ' by "▁" (U+2581) before segmentation
     */
    public record NormalizerSpec(String name, int precompiledCharsmapBytes, boolean addDummyPrefix,
                                 boolean removeExtraWhitespaces, boolean escapeWhitespaces) {
    }

    private final String source;
    private final String[] pieces;
    private final float[] scores;
    private final PieceType[] types;
    private final TrainerSpec trainer;
    private final NormalizerSpec normalizer;
    private final PieceTable mergeable;
    private final PieceTable reserved;

    private SentencePieceModel(String source, String[] pieces, float[] scores, PieceType[] types,
                               TrainerSpec trainer, NormalizerSpec normalizer, PieceTable mergeable,
                               PieceTable reserved) {
        this.source = source;
        this.pieces = pieces;
        this.scores = scores;
        this.types = types;
        this.trainer = trainer;
        this.normalizer = normalizer;
        this.mergeable = mergeable;
        this.reserved = reserved;
    }

    /**
     * Reads and checks a {@code tokenizer.model} file.
     *
     * @param file path of a SentencePiece model
     * @return the parsed model
     * @throws TokenizerFormatException if the file is empty, larger than {@link #MAX_FILE_BYTES}, not a valid
     *     SentencePiece model, or uses a feature grok1j does not implement; the message names the file
     * @throws IOException if the file cannot be read
     */
    public static SentencePieceModel read(Path file) throws IOException {
        long size = Files.size(file);
        if (size > MAX_FILE_BYTES) {
            throw new TokenizerFormatException(file + ": " + size + " bytes is too large for a SentencePiece model"
                    + " (limit " + MAX_FILE_BYTES + " bytes); is this really a tokenizer.model?");
        }
        return parse(Files.readAllBytes(file), file.toString());
    }

    /**
     * Parses and checks a serialized {@code ModelProto}.
     *
     * @param bytes  the serialized model
     * @param source a name for error messages, usually the file path
     * @return the parsed model
     * @throws TokenizerFormatException as for {@link #read(Path)}
     */
    public static SentencePieceModel parse(byte[] bytes, String source) throws TokenizerFormatException {
        if (bytes.length == 0) {
            throw new TokenizerFormatException(source + ": empty file (0 bytes), not a SentencePiece model");
        }
        return new Parser(bytes, source).parse();
    }

    /**
     * Builds a BPE model from a vocabulary stored elsewhere, e.g. a GGUF file's {@code tokenizer.ggml.*} arrays
     * (spec §6.1: raw piece strings with "▁", scores, SentencePiece piece types). The normalizer is SentencePiece's
     * identity with the dummy prefix and whitespace escaping, as in Grok-1's {@code tokenizer.model}; byte fallback
     * is on when the vocabulary has byte pieces; the unknown piece decodes to its own text ({@code "[UNK]"} for
     * Grok-1, which is also its {@code unk_surface}).
     *
     * @param source  a name for error messages
     * @param pieces  piece texts, by id
     * @param scores  merge scores, by id
     * @param types   SentencePiece piece types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte)
     * @param bosId   beginning-of-sequence id, or -1
     * @param eosId   end-of-sequence id, or -1
     * @param padId   padding id, or -1
     * @throws TokenizerFormatException if the arrays disagree in length, a type is unknown, or the vocabulary
     *     fails SentencePiece's own load checks
     */
    public static SentencePieceModel fromVocabulary(String source, String[] pieces, float[] scores, int[] types,
                                                    int bosId, int eosId, int padId) throws TokenizerFormatException {
        if (pieces.length != scores.length || pieces.length != types.length) {
            throw new TokenizerFormatException(source + ": " + pieces.length + " pieces but " + scores.length
                    + " scores and " + types.length + " types");
        }
        Parser p = new Parser(new byte[0], source);
        p.modelType = BPE;
        p.vocabSize = pieces.length;
        p.normalizerName = "identity";
        p.removeExtraWhitespaces = false;
        p.scoreArray = Arrays.copyOf(scores, Math.max(1, scores.length));
        for (int id = 0; id < pieces.length; id++) {
            PieceType type = PieceType.fromWireValue(types[id]);
            if (type == null) {
                throw new TokenizerFormatException(source + ": piece " + id + " has unknown type " + types[id]);
            }
            p.pieceList.add(pieces[id]);
            p.typeList.add(type);
            if (type == PieceType.BYTE) {
                p.byteFallback = true;
            }
            if (type == PieceType.UNKNOWN) {
                p.unkId = id;
                p.unkPiece = pieces[id];
                p.unkSurface = pieces[id];
            }
        }
        p.bosId = bosId;
        p.eosId = eosId;
        p.padId = padId;
        p.bosPiece = bosId >= 0 && bosId < pieces.length ? pieces[bosId] : p.bosPiece;
        p.eosPiece = eosId >= 0 && eosId < pieces.length ? pieces[eosId] : p.eosPiece;
        p.padPiece = padId >= 0 && padId < pieces.length ? pieces[padId] : p.padPiece;
        return p.check();
    }

    /** @return the file name or source name this model was read from */
    public String source() {
        return source;
    }

    /** @return the number of pieces (the vocabulary size; Grok-1: 131,072) */
    public int size() {
        return pieces.length;
    }

    /** @return the text of piece {@code id}, with "▁" (U+2581) for spaces */
    public String piece(int id) {
        return pieces[id];
    }

    /** @return the score of piece {@code id}; BPE merges the pair whose result has the highest score first */
    public float score(int id) {
        return scores[id];
    }

    /** @return the type of piece {@code id} */
    public PieceType type(int id) {
        return types[id];
    }

    public TrainerSpec trainer() {
        return trainer;
    }

    public NormalizerSpec normalizer() {
        return normalizer;
    }

    /** Normal, user-defined and unused pieces: the ones BPE merges may produce. */
    PieceTable mergeablePieces() {
        return mergeable;
    }

    /** Control, unknown and byte pieces. */
    PieceTable reservedPieces() {
        return reserved;
    }

    static String modelTypeName(int modelType) {
        return switch (modelType) {
            case UNIGRAM -> "UNIGRAM";
            case BPE -> "BPE";
            case WORD -> "WORD";
            case CHAR -> "CHAR";
            default -> "unknown model type " + modelType;
        };
    }

    /** @return the byte piece text SentencePiece uses for {@code b}: {@code <0x%02X>} */
    static String bytePiece(int b) {
        return String.format("<0x%02X>", b);
    }

    /** {@code "<0x41>"} → 0x41 for exactly the spelling SentencePiece writes ({@code <0x%02X>}), else -1. */
    static int byteOfPiece(String piece) {
        if (piece.length() != 6 || !piece.startsWith("<0x") || piece.charAt(5) != '>') {
            return -1;
        }
        int hi = Character.digit(piece.charAt(3), 16);
        int lo = Character.digit(piece.charAt(4), 16);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        int b = hi << 4 | lo;
        return piece.equals(bytePiece(b)) ? b : -1; // rejects lower-case hex, as SentencePiece does
    }

    /** One parse of one file; collects fields, then checks them. */
    private static final class Parser {
        private final byte[] bytes;
        private final String source;
        private final List<String> pieceList = new ArrayList<>();
        private final List<PieceType> typeList = new ArrayList<>();
        private float[] scoreArray = new float[1024];

        // TrainerSpec, initialised to the proto defaults.
        private int modelType = UNIGRAM;
        private int vocabSize = 8000;
        private boolean byteFallback;
        private int unkId = 0;
        private int bosId = 1;
        private int eosId = 2;
        private int padId = -1;
        private String unkPiece = "<unk>";
        private String bosPiece = "<s>";
        private String eosPiece = "</s>";
        private String padPiece = "<pad>";
        private String unkSurface = " \u2047 ";
        private boolean treatWhitespaceAsSuffix;

        // NormalizerSpec, initialised to the proto defaults.
        private String normalizerName = "";
        private int charsmapBytes;
        private boolean addDummyPrefix = true;
        private boolean removeExtraWhitespaces = true;
        private boolean escapeWhitespaces = true;
        private int denormalizerCharsmapBytes;

        Parser(byte[] bytes, String source) {
            this.bytes = bytes;
            this.source = source;
        }

        SentencePieceModel parse() throws TokenizerFormatException {
            ProtoReader model = new ProtoReader(bytes, 0, bytes.length, source, "ModelProto");
            while (model.hasMore()) {
                switch (model.readField()) {
                    case 1 -> readPiece(model.readMessage("ModelProto.pieces"));
                    case 2 -> readTrainer(model.readMessage("ModelProto.trainer_spec"));
                    case 3 -> readNormalizer(model.readMessage("ModelProto.normalizer_spec"));
                    case 5 -> readDenormalizer(model.readMessage("ModelProto.denormalizer_spec"));
                    default -> model.skip(); // 4 self_test_data and anything newer
                }
            }
            return check();
        }

        private void readPiece(ProtoReader r) throws TokenizerFormatException {
            if (pieceList.size() >= MAX_PIECES) {
                throw new TokenizerFormatException(source + ": more than " + MAX_PIECES + " pieces");
            }
            String piece = "";
            float score = 0f;
            PieceType type = PieceType.NORMAL;
            while (r.hasMore()) {
                switch (r.readField()) {
                    case 1 -> piece = r.readString();
                    case 2 -> score = r.readFloat();
                    case 3 -> {
                        int value = r.readInt32();
                        type = PieceType.fromWireValue(value);
                        if (type == null) {
                            throw r.fieldError("piece " + pieceList.size() + " has unknown type " + value);
                        }
                    }
                    default -> r.skip();
                }
            }
            if (pieceList.size() == scoreArray.length) {
                scoreArray = Arrays.copyOf(scoreArray, scoreArray.length * 2);
            }
            scoreArray[pieceList.size()] = score;
            pieceList.add(piece);
            typeList.add(type);
        }

        private void readTrainer(ProtoReader r) throws TokenizerFormatException {
            while (r.hasMore()) {
                switch (r.readField()) {
                    case 3 -> modelType = r.readInt32();
                    case 4 -> vocabSize = r.readInt32();
                    case 24 -> treatWhitespaceAsSuffix = r.readBool();
                    case 35 -> byteFallback = r.readBool();
                    case 40 -> unkId = r.readInt32();
                    case 41 -> bosId = r.readInt32();
                    case 42 -> eosId = r.readInt32();
                    case 43 -> padId = r.readInt32();
                    case 44 -> unkSurface = r.readString();
                    case 45 -> unkPiece = r.readString();
                    case 46 -> bosPiece = r.readString();
                    case 47 -> eosPiece = r.readString();
                    case 48 -> padPiece = r.readString();
                    default -> r.skip(); // training-only settings
                }
            }
        }

        private void readNormalizer(ProtoReader r) throws TokenizerFormatException {
            while (r.hasMore()) {
                switch (r.readField()) {
                    case 1 -> normalizerName = r.readString();
                    case 2 -> charsmapBytes = r.skipBytes();
                    case 3 -> addDummyPrefix = r.readBool();
                    case 4 -> removeExtraWhitespaces = r.readBool();
                    case 5 -> escapeWhitespaces = r.readBool();
                    default -> r.skip(); // 6 normalization_rule_tsv is a training input
                }
            }
        }

        private void readDenormalizer(ProtoReader r) throws TokenizerFormatException {
            while (r.hasMore()) {
                if (r.readField() == 2) {
                    denormalizerCharsmapBytes = r.skipBytes();
                } else {
                    r.skip();
                }
            }
        }

        /** SentencePiece's own load-time checks, then the features grok1j refuses. */
        private SentencePieceModel check() throws TokenizerFormatException {
            int n = pieceList.size();
            if (n == 0) {
                throw new TokenizerFormatException(source + ": no pieces; not a SentencePiece model");
            }
            // Normal, user-defined and unused pieces share one namespace, control/unknown/byte pieces another
            // (SentencePiece keeps two maps), so the same text may appear once in each.
            PieceTable mergeable = new PieceTable(n);
            PieceTable reserved = new PieceTable(16);
            boolean[] byteSeen = new boolean[256];
            int unknownPieces = 0;
            for (int id = 0; id < n; id++) {
                String piece = pieceList.get(id);
                PieceType type = typeList.get(id);
                if (piece.isEmpty()) {
                    throw new TokenizerFormatException(source + ": piece " + id + " is empty");
                }
                if (Float.isNaN(scoreArray[id])) {
                    throw new TokenizerFormatException(source + ": piece " + id + " has a NaN score");
                }
                boolean isMergeable = type == PieceType.NORMAL || type == PieceType.USER_DEFINED
                        || type == PieceType.UNUSED;
                int previous = (isMergeable ? mergeable : reserved).putIfAbsent(piece, id);
                if (previous >= 0) {
                    throw new TokenizerFormatException(source + ": piece " + id + " \"" + piece
                            + "\" is already defined as piece " + previous);
                }
                if (type == PieceType.UNKNOWN) {
                    unknownPieces++;
                }
                if (type == PieceType.BYTE) {
                    if (!byteFallback) {
                        throw new TokenizerFormatException(source + ": byte piece " + id + " \"" + piece
                                + "\" but trainer_spec.byte_fallback is false");
                    }
                    int b = byteOfPiece(piece);
                    if (b < 0) {
                        throw new TokenizerFormatException(source + ": byte piece " + id + " \"" + piece
                                + "\" is not of the form <0xXX>");
                    }
                    byteSeen[b] = true;
                }
            }
            if (unknownPieces != 1) {
                throw new TokenizerFormatException(source + ": " + unknownPieces
                        + " pieces of type UNKNOWN, expected exactly 1");
            }
            if (byteFallback) {
                for (int b = 0; b < 256; b++) {
                    if (!byteSeen[b]) {
                        throw new TokenizerFormatException(String.format(
                                "%s: byte_fallback is on but there is no byte piece <0x%02X>", source, b));
                    }
                }
            }
            refuseUnsupported();
            TrainerSpec trainer = new TrainerSpec(modelType, vocabSize, byteFallback, unkId, bosId, eosId, padId,
                    unkPiece, bosPiece, eosPiece, padPiece, unkSurface, treatWhitespaceAsSuffix);
            NormalizerSpec normalizer = new NormalizerSpec(normalizerName, charsmapBytes, addDummyPrefix,
                    removeExtraWhitespaces, escapeWhitespaces);
            return new SentencePieceModel(source, pieceList.toArray(new String[0]),
                    Arrays.copyOf(scoreArray, n), typeList.toArray(new PieceType[0]), trainer, normalizer, mergeable,
                    reserved);
        }

        private void refuseUnsupported() throws TokenizerFormatException {
            String notImplemented = " is not implemented by grok1j (it implements the Grok-1 tokenizer: BPE,"
                    + " identity normalizer)";
            if (modelType != BPE) {
                throw new TokenizerFormatException(source + ": model_type " + modelTypeName(modelType)
                        + notImplemented);
            }
            if (charsmapBytes > 0) {
                throw new TokenizerFormatException(source + ": normalizer \"" + normalizerName + "\" with a "
                        + charsmapBytes + "-byte precompiled_charsmap" + notImplemented);
            }
            if (denormalizerCharsmapBytes > 0) {
                throw new TokenizerFormatException(source + ": a denormalizer with a precompiled_charsmap"
                        + notImplemented);
            }
            if (removeExtraWhitespaces) {
                throw new TokenizerFormatException(source + ": normalizer_spec.remove_extra_whitespaces"
                        + notImplemented);
            }
            if (treatWhitespaceAsSuffix) {
                throw new TokenizerFormatException(source + ": trainer_spec.treat_whitespace_as_suffix"
                        + notImplemented);
            }
        }
    }
}
