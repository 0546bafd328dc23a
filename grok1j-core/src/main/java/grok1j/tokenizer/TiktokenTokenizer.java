package grok1j.tokenizer;

import grok1j.format.Json;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The Grok-2 tokenizer: tiktoken byte-level BPE from a {@code tokenizer.tok.json} (grok-2 spec §4), encoding exactly
 * as tiktoken does with every special token allowed (as SGLang encodes).
 *
 * <p>Encoding (§4.2): special tokens' texts are found first (leftmost, longest at a position); each stretch between
 * them is split with the {@code V1} regex (cl100k's pattern with single digits), and each piece's UTF-8 bytes are
 * emitted as one token if the whole piece is a token, else merged pairwise from single bytes, lowest rank first and
 * leftmost on ties. No normalisation, no prefix space, no BOS or EOS.
 *
 * <p>Decoding (§4.3): the tokens' bytes (a special's: its text) are concatenated and decoded as UTF-8 once, each
 * maximal invalid subsequence becoming one U+FFFD (as Python's {@code errors="replace"}).
 *
 * <p>Immutable and thread-safe.
 */
public final class TiktokenTokenizer implements Tokenizer {
    /** The {@code V1} split pattern, verbatim (§4.2). */
    public static final String V1_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private final Pattern split;
    private final ByteSequenceMap ranks;
    private final byte[][] tokenBytes; // by id; null for an id that is not used
    private final boolean[] special;   // by id
    private final String[] specialTexts;
    private final int[] specialIds;    // parallel to specialTexts
    private final Map<Character, int[]> specialsByFirstChar; // indexes into specialTexts, longest first
    private final Map<String, Integer> idByPiece = new HashMap<>();
    private final int eosId;
    private final int padId;
    private final ThreadLocal<BytePairMerger> merger;

    private TiktokenTokenizer(Pattern split, byte[][] tokenBytes, boolean[] special) {
        this.split = split;
        this.tokenBytes = tokenBytes;
        this.special = special;
        List<byte[]> keys = new ArrayList<>();
        List<Integer> values = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        List<Integer> ids = new ArrayList<>();
        for (int id = 0; id < tokenBytes.length; id++) {
            if (tokenBytes[id] == null) {
                continue;
            }
            if (special[id]) {
                texts.add(new String(tokenBytes[id], StandardCharsets.UTF_8));
                ids.add(id);
            } else {
                keys.add(tokenBytes[id]);
                values.add(id);
            }
            idByPiece.putIfAbsent(pieceText(tokenBytes[id]), id);
        }
        this.ranks = new ByteSequenceMap(keys.toArray(byte[][]::new), values.stream().mapToInt(i -> i).toArray());
        this.specialTexts = texts.toArray(String[]::new);
        this.specialIds = ids.stream().mapToInt(i -> i).toArray();
        Map<Character, List<Integer>> byFirst = new HashMap<>();
        for (int k = 0; k < specialTexts.length; k++) {
            byFirst.computeIfAbsent(specialTexts[k].charAt(0), c -> new ArrayList<>()).add(k);
        }
        this.specialsByFirstChar = new HashMap<>();
        byFirst.forEach((c, list) -> specialsByFirstChar.put(c, list.stream()
                .sorted((a, b) -> Integer.compare(specialTexts[b].length(), specialTexts[a].length()))
                .mapToInt(i -> i).toArray()));
        this.eosId = specialId("<|eos|>");
        this.padId = specialId("<|pad|>");
        this.merger = ThreadLocal.withInitial(() -> new BytePairMerger(ranks));
    }

    /**
     * Reads a {@code tokenizer.tok.json} (grok-2 spec §4.1).
     *
     * @throws TokenizerFormatException with a one-line message naming the file: invalid UTF-8 or JSON, a missing or
     *     malformed key, a duplicate id (rank) or duplicate bytes, a {@code word_split} other than {@code "V1"}
     *     without a {@code pat_str}, ids that do not fill {@code 0..vocab_size-1}, a missing single-byte token
     * @throws IOException if the file cannot be read
     */
    public static TiktokenTokenizer load(Path file) throws IOException {
        byte[] raw = Files.readAllBytes(file);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(raw)).toString();
        } catch (CharacterCodingException e) {
            throw new TokenizerFormatException(file + ": not valid UTF-8");
        }
        return parse(text, file.toString());
    }

    /**
     * Builds a tokenizer from the text of a {@code tokenizer.tok.json}.
     *
     * @param source the name used in error messages (the file name)
     * @throws TokenizerFormatException as {@link #load(Path)}
     */
    public static TiktokenTokenizer parse(String json, String source) throws TokenizerFormatException {
        Object root;
        try {
            root = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw new TokenizerFormatException(source + ": " + e.getMessage());
        }
        if (!(root instanceof Map<?, ?> object)) {
            throw new TokenizerFormatException(source + ": expected a JSON object");
        }
        if (!object.containsKey("regular_tokens")) { // another JSON file (a config.json, say) given as the tokenizer
            throw new TokenizerFormatException(source + ": not a tiktoken tokenizer.tok.json (no \"regular_tokens\"; "
                    + "Grok-2 ships one beside its weights, Grok-1 a SentencePiece tokenizer.model)");
        }
        Pattern split = splitPattern(object, source);
        Map<Integer, byte[]> byId = new HashMap<>();
        Map<Integer, Boolean> isSpecial = new HashMap<>();
        readTokens(object, "regular_tokens", false, byId, isSpecial, source);
        readTokens(object, "special_tokens", true, byId, isSpecial, source);
        int maxId = byId.keySet().stream().mapToInt(i -> i).max().orElse(-1);
        int size = maxId + 1;
        Object vocabSize = object.get("vocab_size");
        if (vocabSize != null) {
            if (!(vocabSize instanceof Long v) || v < 0 || v > Integer.MAX_VALUE) {
                throw new TokenizerFormatException(source + ": vocab_size must be a non-negative integer, found "
                        + vocabSize);
            }
            if (v != byId.size() || maxId != v - 1) {
                throw new TokenizerFormatException(source + ": vocab_size is " + v + " but the tokens' ids are "
                        + byId.size() + " distinct values up to " + maxId + " (expected exactly 0.." + (v - 1) + ")");
            }
            size = (int) (long) v;
        }
        byte[][] tokenBytes = new byte[size][];
        boolean[] special = new boolean[size];
        byId.forEach((id, bytes) -> {
            tokenBytes[id] = bytes;
            special[id] = isSpecial.get(id);
        });
        checkDistinctBytes(tokenBytes, special, source);
        return new TiktokenTokenizer(split, tokenBytes, special);
    }

    /**
     * Builds a tokenizer from its tokens by id (the id is the merge rank) with the {@code V1} split, e.g. from the
     * byte-level vocabulary a Grok-2 GGUF carries; validated as {@link #parse} does.
     *
     * @param tokenBytes each id's bytes (a special's: its UTF-8 text), or null for an id that is not used
     * @param special    by id: true for a special token (found in text before splitting)
     * @param source     the name used in error messages
     * @throws TokenizerFormatException for duplicate bytes, a missing single-byte token or a special that is not UTF-8
     */
    public static TiktokenTokenizer of(byte[][] tokenBytes, boolean[] special, String source)
            throws TokenizerFormatException {
        if (tokenBytes.length != special.length) {
            throw new IllegalArgumentException("tokenBytes and special differ in length");
        }
        byte[][] copy = tokenBytes.clone();
        boolean[] flags = special.clone();
        checkDistinctBytes(copy, flags, source);
        return new TiktokenTokenizer(Pattern.compile(V1_PATTERN, Pattern.UNICODE_CHARACTER_CLASS), copy, flags);
    }

    private static Pattern splitPattern(Map<?, ?> object, String source) throws TokenizerFormatException {
        Object patStr = object.get("pat_str");
        Object wordSplit = object.get("word_split");
        if (patStr != null) {
            if (!(patStr instanceof String p)) {
                throw new TokenizerFormatException(source + ": pat_str must be a string");
            }
            try {
                return Pattern.compile(p, Pattern.UNICODE_CHARACTER_CLASS);
            } catch (PatternSyntaxException e) {
                throw new TokenizerFormatException(source + ": pat_str is not a regular expression Java accepts: "
                        + e.getDescription());
            }
        }
        if (!"V1".equals(wordSplit)) {
            throw new TokenizerFormatException(source + ": word_split is " + (wordSplit == null ? "missing"
                    : Json.quote(String.valueOf(wordSplit))) + "; only \"V1\" is known (or give a pat_str)");
        }
        // UNICODE_CHARACTER_CLASS: \s is Unicode White_Space and (?i) folds Unicode case, as in Rust's regex (§4.4).
        return Pattern.compile(V1_PATTERN, Pattern.UNICODE_CHARACTER_CLASS);
    }

    private static void readTokens(Map<?, ?> object, String key, boolean special, Map<Integer, byte[]> byId,
                                   Map<Integer, Boolean> isSpecial, String source) throws TokenizerFormatException {
        Object value = object.get(key);
        if (value == null && special) {
            return;
        }
        if (!(value instanceof List<?> list)) {
            throw new TokenizerFormatException(source + ": " + key + " must be an array");
        }
        for (int i = 0; i < list.size(); i++) {
            String where = source + ": " + key + "[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> entry)) {
                throw new TokenizerFormatException(where + ": expected an object {\"bytes\": [...], \"token\": id}");
            }
            if (!(entry.get("token") instanceof Long id) || id < 0 || id > Integer.MAX_VALUE - 1) {
                throw new TokenizerFormatException(where + ": \"token\" must be a non-negative integer id, found "
                        + entry.get("token"));
            }
            if (!(entry.get("bytes") instanceof List<?> byteList) || byteList.isEmpty()) {
                throw new TokenizerFormatException(where + " (id " + id + "): \"bytes\" must be a non-empty array");
            }
            byte[] bytes = new byte[byteList.size()];
            for (int k = 0; k < bytes.length; k++) {
                if (!(byteList.get(k) instanceof Long b) || b < 0 || b > 255) {
                    throw new TokenizerFormatException(where + " (id " + id + "): byte " + k + " is "
                            + byteList.get(k) + ", expected 0..255");
                }
                bytes[k] = (byte) (long) b;
            }
            int tokenId = (int) (long) id;
            if (byId.containsKey(tokenId)) {
                throw new TokenizerFormatException(where + ": duplicate rank (token id) " + id);
            }
            byId.put(tokenId, bytes);
            isSpecial.put(tokenId, special);
        }
    }

    private static void checkDistinctBytes(byte[][] tokenBytes, boolean[] special, String source)
            throws TokenizerFormatException {
        Map<String, Integer> seen = new HashMap<>();
        boolean[] singleByte = new boolean[256];
        for (int id = 0; id < tokenBytes.length; id++) {
            if (tokenBytes[id] == null) {
                continue;
            }
            String key = (special[id] ? "s" : "r") + new String(tokenBytes[id], StandardCharsets.ISO_8859_1);
            Integer other = seen.putIfAbsent(key, id);
            if (other != null) {
                throw new TokenizerFormatException(source + ": ids " + other + " and " + id + " have the same bytes "
                        + Arrays.toString(Arrays.copyOf(tokenBytes[id], Math.min(16, tokenBytes[id].length))));
            }
            if (!special[id] && tokenBytes[id].length == 1) {
                singleByte[tokenBytes[id][0] & 0xFF] = true;
            }
            if (special[id] && !Utf8.isWellFormed(tokenBytes[id], 0, tokenBytes[id].length)) {
                throw new TokenizerFormatException(source + ": special token " + id + " is not valid UTF-8 text");
            }
        }
        for (int b = 0; b < 256; b++) {
            if (!singleByte[b]) {
                throw new TokenizerFormatException(source + ": no regular token for the single byte " + b
                        + " (byte-level BPE needs all 256)");
            }
        }
    }

    @Override
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text");
        BytePairMerger bpe = merger.get();
        BytePairMerger.IntList out = new BytePairMerger.IntList();
        int from = 0;
        int scan = 0;
        while (scan < text.length()) {
            int k = specialAt(text, scan);
            if (k < 0) {
                scan++;
                continue;
            }
            encodeOrdinary(text, from, scan, bpe, out);
            out.add(specialIds[k]);
            scan += specialTexts[k].length();
            from = scan;
        }
        encodeOrdinary(text, from, text.length(), bpe, out);
        return out.toArray();
    }

    /** @return the index of the longest special token whose text starts at {@code at}, or -1 */
    private int specialAt(String text, int at) {
        int[] candidates = specialsByFirstChar.get(text.charAt(at));
        if (candidates != null) {
            for (int k : candidates) {
                if (text.startsWith(specialTexts[k], at)) {
                    return k;
                }
            }
        }
        return -1;
    }

    private void encodeOrdinary(String text, int from, int to, BytePairMerger bpe, BytePairMerger.IntList out) {
        if (from == to) {
            return;
        }
        Matcher m = split.matcher(text).region(from, to);
        while (m.find()) {
            if (m.start() == m.end()) {
                continue; // a custom pat_str may match empty; tiktoken skips empty pieces too
            }
            byte[] piece = text.substring(m.start(), m.end()).getBytes(StandardCharsets.UTF_8);
            int whole = ranks.get(piece, 0, piece.length);
            if (whole >= 0) {
                out.add(whole);
            } else {
                bpe.merge(piece, out);
            }
        }
    }

    @Override
    public String decode(int[] ids, int from, int to) {
        Objects.checkFromToIndex(from, to, ids.length);
        int length = 0;
        for (int i = from; i < to; i++) {
            length += bytes(ids[i]).length;
        }
        byte[] all = new byte[length];
        int at = 0;
        for (int i = from; i < to; i++) {
            byte[] b = tokenBytes[ids[i]];
            System.arraycopy(b, 0, all, at, b.length);
            at += b.length;
        }
        return new String(all, StandardCharsets.UTF_8);
    }

    @Override
    public StreamingDecoder streamingDecoder() {
        return new TiktokenDecoder(this);
    }

    /**
     * @return the bytes of token {@code id} (a special token's: its UTF-8 text); do not modify
     * @throws IllegalArgumentException if the id is not a token
     */
    byte[] bytes(int id) {
        if (id < 0 || id >= tokenBytes.length || tokenBytes[id] == null) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary"
                    + (id >= 0 && id < tokenBytes.length ? "" : " [0, " + tokenBytes.length + ")"));
        }
        return tokenBytes[id];
    }

    /** @return a copy of the bytes of token {@code id} (a special token's: its UTF-8 text) */
    public byte[] tokenBytes(int id) {
        return bytes(id).clone();
    }

    /** The regular expression that splits text into pieces ({@link #V1_PATTERN} unless a {@code pat_str} replaced it). */
    public String splitPattern() {
        return split.pattern();
    }

    /** @return the id of the special token with this text (e.g. {@code "<|separator|>"}), or -1 */
    public int specialId(String text) {
        for (int k = 0; k < specialTexts.length; k++) {
            if (specialTexts[k].equals(text)) {
                return specialIds[k];
            }
        }
        return -1;
    }

    /** @return true if {@code id} is a special token */
    public boolean isSpecial(int id) {
        return special[checkId(id)];
    }

    @Override
    public String piece(int id) {
        return tokenBytes[checkId(id)] == null ? "" : pieceText(tokenBytes[id]);
    }

    private static String pieceText(byte[] bytes) {
        if (Utf8.isWellFormed(bytes, 0, bytes.length)) {
            return new String(bytes, StandardCharsets.UTF_8);
        }
        StringBuilder b = new StringBuilder();
        for (byte x : bytes) {
            b.append(String.format("<0x%02X>", x & 0xFF));
        }
        return b.toString();
    }

    @Override
    public PieceType type(int id) {
        byte[] b = tokenBytes[checkId(id)];
        if (b == null) {
            return PieceType.UNUSED;
        }
        if (special[id]) {
            return PieceType.CONTROL;
        }
        return Utf8.isWellFormed(b, 0, b.length) ? PieceType.NORMAL : PieceType.BYTE;
    }

    @Override
    public int byteValue(int id) {
        byte[] b = tokenBytes[checkId(id)];
        return b != null && !special[id] && b.length == 1 && b[0] < 0 ? b[0] & 0xFF : -1;
    }

    @Override
    public byte[] rawBytes(int id) {
        return type(id) == PieceType.BYTE && byteValue(id) < 0 ? tokenBytes(id) : null; // a lone byte is byteValue's
    }

    @Override
    public int pieceId(String piece) {
        Integer id = idByPiece.get(piece);
        return id == null ? -1 : id;
    }

    @Override
    public int vocabSize() {
        return tokenBytes.length;
    }

    @Override
    public int unkId() {
        return -1;
    }

    @Override
    public int bosId() {
        return -1;
    }

    @Override
    public int eosId() {
        return eosId;
    }

    @Override
    public int padId() {
        return padId;
    }

    private int checkId(int id) {
        return Objects.checkIndex(id, tokenBytes.length);
    }
}
