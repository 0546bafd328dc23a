package grok1j.format;

import grok1j.format.gguf.GgufFormatException;
import grok1j.format.gguf.GgufModel;
import grok1j.format.gguf.GgufVocab;
import grok1j.format.pickle.OfficialCheckpoint;
import grok1j.format.safetensors.Grok2Checkpoint;
import grok1j.format.safetensors.Grok2Model;
import grok1j.tokenizer.SentencePieceModel;
import grok1j.tokenizer.SentencePieceTokenizer;
import grok1j.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Opens model files by what they are: an official Grok-1 checkpoint folder, a Grok-2 release folder or a GGUF file. */
public final class ModelFiles {
    private ModelFiles() {}

    /**
     * @param path a folder holding {@code ckpt-0/}, {@code ckpt-0/} itself, a Grok-2 folder (recognised by its
     *             {@code pytorch_model-NNNNN-TP-*.safetensors} files, grok-2 spec §1), or a {@code .gguf} file
     * @throws IOException with a one-line message naming the path and what is wrong
     */
    public static ModelFile open(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString());
        }
        if (Files.isRegularFile(path) && !isGguf(path)) {
            throw new ModelFormatException(path + ": not a GGUF file (no GGUF magic) and not a checkpoint folder (holding ckpt-0/)");
        }
        if (Files.isDirectory(path) && path.getFileName() != null && path.getFileName().toString().endsWith(".gguf")
                && !Files.isDirectory(path.resolve("ckpt-0")) && !Grok2Checkpoint.isGrok2Folder(path)) {
            // a folder named like a GGUF file is almost surely a mistake (an unpacked archive, a wrong mount), not a
            // checkpoint folder: say so rather than "not a Grok-1 checkpoint"
            throw new ModelFormatException(path + ": is a directory, expected a .gguf file (or a checkpoint folder holding ckpt-0/)");
        }
        if (isGguf(path)) {
            try {
                return GgufModel.open(path);
            } catch (GgufFormatException e) {
                throw new ModelFormatException(e.getMessage(), e);
            }
        }
        if (Grok2Checkpoint.isGrok2Folder(path)) {
            return Grok2Model.open(path);
        }
        if (Files.isDirectory(path) && !OfficialCheckpoint.isCheckpointFolder(path)) {
            // a folder that is neither release: name both, and the third way to give a model
            throw new ModelFormatException(path + ": not a model folder: no ckpt-0/ with tensorNNNNN_000 files (Grok-1's "
                    + "official checkpoint) and no pytorch_model-*.safetensors (Grok-2's release); a GGUF model is given as "
                    + "its .gguf file");
        }
        return OfficialCheckpoint.open(path);
    }

    /** True if {@code path} is a regular file starting with the GGUF magic. */
    public static boolean isGguf(Path path) throws IOException {
        if (!Files.isRegularFile(path)) {
            return false;
        }
        try (var in = Files.newInputStream(path)) {
            byte[] magic = in.readNBytes(4);
            return magic.length == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
        }
    }

    /**
     * The tokenizer for {@code file}: {@code explicit} if given, else the one found beside the weights.
     *
     * @throws IOException if none is found or it cannot be read
     */
    public static Tokenizer tokenizer(ModelFile file, Path explicit) throws IOException {
        if (explicit != null) {
            return loadTokenizer(explicit);
        }
        if (file instanceof GgufModel gguf) {
            return ggufTokenizer(gguf);
        }
        Path found = file.tokenizerPath();
        if (found == null) {
            throw new IOException(file instanceof Grok2Model
                    ? "no tokenizer.tok.json in " + file.location() + "; pass --tokenizer PATH"
                    : "no tokenizer.model found for " + file.location()
                            + " (looked in the folder, beside ckpt-0/ and two levels above it); pass --tokenizer PATH");
        }
        return Tokenizer.load(found);
    }

    /**
     * Loads a tokenizer from a {@code tokenizer.model} (SentencePiece) file, a {@code tokenizer.tok.json} (tiktoken,
     * Grok-2), or from the vocabulary a {@code .gguf} file carries: SentencePiece pieces are tokenized with the
     * SentencePiece-exact algorithm, not llama.cpp's (spec §7.6); a byte-level ({@code gpt2}) vocabulary with
     * Grok-2's split is tokenized as tiktoken does (grok-2 spec §4).
     */
    public static Tokenizer loadTokenizer(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString());
        }
        if (Files.isDirectory(path)) {
            throw new ModelFormatException(path + ": is a directory, expected a tokenizer.model, tokenizer.tok.json or .gguf file");
        }
        if (isGguf(path)) {
            try (ModelFile f = open(path)) {
                return ggufTokenizer((GgufModel) f);
            }
        }
        return Tokenizer.load(path);
    }

    private static Tokenizer ggufTokenizer(GgufModel gguf) throws IOException {
        try {
            GgufVocab v = gguf.tokenizerPieces();
            if (v.byteLevel()) {
                return GgufVocab.tiktoken(v, gguf.location().toString());
            }
            return new SentencePieceTokenizer(SentencePieceModel.fromVocabulary(gguf.location().toString(), v.tokens(), v.scores(),
                    v.tokenTypes(), v.bosId(), v.eosId(), v.padId()));
        } catch (GgufFormatException e) {
            throw new ModelFormatException(e.getMessage(), e);
        }
    }
}
