package grok1j.format.pickle;

import grok1j.format.ModelFormatException;
import grok1j.format.pickle.PickledArray.DType;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A pickle VM that understands exactly the shards of the official Grok-1 checkpoint (spec §4.4) and nothing more.
 *
 * <p>It never executes anything. The only globals it accepts are the six spec §4.4 names, and they become opaque
 * markers: {@code REDUCE(_reconstruct, (ndarray, (0,), b'b'))} makes an empty array placeholder,
 * {@code REDUCE(dtype, ('f4'|'i1'|bfloat16, False, True))} a dtype, {@code NEWOBJ(QuantizedWeight8bit, ())} an empty
 * pair, and {@code BUILD} fills them in. Every other global, call or opcode is refused. {@code bytes} objects are
 * never read: only their offset and length are kept, so the payload can be memory-mapped later.
 *
 * <p>Errors are {@link ModelFormatException}s of the form {@code "<file>: offset <N>: <what>"}, where N is the
 * offset of the opcode being executed. Work is bounded: at most {@link #MAX_OPCODES} opcodes, strings of at most
 * {@link #MAX_STRING} bytes, and lengths are checked against the file size before anything moves.
 */
final class RestrictedUnpickler {
    /** A real shard header has about 100 opcodes; this bounds time and memory on hostile input. */
    static final int MAX_OPCODES = 10_000;
    /** Header strings are module, class and dict key names. */
    static final int MAX_STRING = 1024;

    // The opcodes of spec §4.4 (values from CPython's pickle.py).
    private static final int MARK = '(', STOP = '.', BININT = 'J', BININT1 = 'K', BININT2 = 'M', NONE = 'N',
            BINUNICODE = 'X', REDUCE = 'R', BUILD = 'b', GLOBAL = 'c', EMPTY_DICT = '}', APPENDS = 'e',
            BINGET = 'h', LONG_BINGET = 'j', EMPTY_LIST = ']', BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's',
            TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', BINBYTES = 'B', SHORT_BINBYTES = 'C',
            PROTO = 0x80, NEWOBJ = 0x81, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88,
            NEWFALSE = 0x89, SHORT_BINUNICODE = 0x8c, BINBYTES8 = 0x8e, STACK_GLOBAL = 0x93, MEMOIZE = 0x94,
            FRAME = 0x95;

    /** The accepted globals. */
    private enum Global {
        RECONSTRUCT, NDARRAY, DTYPE, BFLOAT16, QUANTIZED_WEIGHT;

        static Global of(String module, String name) {
            return switch (module + "." + name) {
                case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct" -> RECONSTRUCT;
                case "numpy.ndarray" -> NDARRAY;
                case "numpy.dtype" -> DTYPE;
                case "ml_dtypes.bfloat16" -> BFLOAT16;
                case "__main__.QuantizedWeight8bit" -> QUANTIZED_WEIGHT;
                default -> null;
            };
        }
    }

    // Python values on the stack. Strings are String, ints Long, bools Boolean.
    private record GlobalRef(Global kind, String qualifiedName) {}
    private record Bytes(long offset, long length) {}
    private record Tuple(List<Object> items) {}
    private enum PyNone { NONE }
    private static final class PyList { final List<Object> items = new ArrayList<>(); }
    private static final class PyDict { final Map<String, Object> items = new LinkedHashMap<>(); }
    /** {@code _reconstruct(ndarray, ...)}: filled in by BUILD. */
    private static final class NdArray { PickledArray built; }
    /** {@code numpy.dtype(spec, False, True)}: byte order filled in by BUILD. */
    private static final class NpDType {
        final DType type;
        ByteOrder order;
        NpDType(DType type) { this.type = type; }
    }
    /** {@code QuantizedWeight8bit()}: filled in by BUILD with {weight, scales}. */
    private static final class QuantPair { PickledArray weight, scales; }

    private final ShardInput in;
    private final Path file;
    private final List<Object> stack = new ArrayList<>();
    /** Stack heights at each open MARK; pops may not go below the innermost one (as in CPython). */
    private final List<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();
    private long opOffset;
    private int protocol;

    private RestrictedUnpickler(ShardInput in, Path file) {
        this.in = in;
        this.file = file;
    }

    static PickleShard parse(Path file) throws ModelFormatException {
        try (ShardInput in = ShardInput.open(file)) {
            return new RestrictedUnpickler(in, file).run();
        }
    }

    private PickleShard run() throws ModelFormatException {
        for (int ops = 0; ; ops++) {
            if (ops == MAX_OPCODES) {
                throw error("more than " + MAX_OPCODES + " opcodes, not a checkpoint shard");
            }
            opOffset = in.position();
            if (in.remaining() == 0) {
                throw new ModelFormatException(in.name() + ": truncated at offset " + opOffset
                        + ": expected an opcode, the pickle has no STOP");
            }
            int op = in.u8("opcode");
            switch (op) {
                case PROTO -> {
                    protocol = in.u8("PROTO version");
                    if (protocol > 5) {
                        throw error("unsupported pickle protocol " + protocol);
                    }
                }
                // Frames only group small opcodes for buffered reading; we read positionally, so just check the
                // announced length exists (a cut-off file fails here, before anything else).
                case FRAME -> in.require(in.u64("FRAME length"), "FRAME");
                case SHORT_BINUNICODE -> push(string(in.u8("SHORT_BINUNICODE length")));
                case BINUNICODE -> push(string(in.u32("BINUNICODE length")));
                case MEMOIZE -> memo.put((long) memo.size(), top());
                case BINPUT -> memo.put((long) in.u8("BINPUT index"), top());
                case LONG_BINPUT -> memo.put(in.u32("LONG_BINPUT index"), top());
                case BINGET -> push(memoGet(in.u8("BINGET index")));
                case LONG_BINGET -> push(memoGet(in.u32("LONG_BINGET index")));
                case STACK_GLOBAL -> {
                    Object name = pop();
                    Object module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw error("STACK_GLOBAL needs two strings, found " + describe(module) + " and " + describe(name));
                    }
                    push(global(m, n));
                }
                case GLOBAL -> {
                    String module = in.line(MAX_STRING, "GLOBAL module name");
                    String name = in.line(MAX_STRING, "GLOBAL name");
                    push(global(module, name));
                }
                case MARK -> marks.add(stack.size());
                case EMPTY_TUPLE -> push(new Tuple(List.of()));
                case TUPLE -> push(new Tuple(popToMark()));
                case TUPLE1, TUPLE2, TUPLE3 -> push(new Tuple(popN(op - TUPLE1 + 1)));
                case EMPTY_DICT -> push(new PyDict());
                case SETITEM -> {
                    Object value = pop();
                    Object key = pop();
                    setItem(top(), key, value);
                }
                case SETITEMS -> {
                    List<Object> kv = popToMark();
                    if (kv.size() % 2 != 0) {
                        throw error("SETITEMS with an odd number of items (" + kv.size() + ")");
                    }
                    Object dict = top();
                    for (int i = 0; i < kv.size(); i += 2) {
                        setItem(dict, kv.get(i), kv.get(i + 1));
                    }
                }
                case EMPTY_LIST -> push(new PyList());
                case APPENDS -> {
                    List<Object> items = popToMark();
                    if (!(top() instanceof PyList list)) {
                        throw error("APPENDS to " + describe(top()));
                    }
                    list.items.addAll(items);
                }
                case BININT -> push((long) in.i32("BININT"));
                case BININT1 -> push((long) in.u8("BININT1"));
                case BININT2 -> push((long) in.u16("BININT2"));
                case NONE -> push(PyNone.NONE);
                case NEWTRUE -> push(Boolean.TRUE);
                case NEWFALSE -> push(Boolean.FALSE);
                case SHORT_BINBYTES -> push(bytes(in.u8("SHORT_BINBYTES length"), "SHORT_BINBYTES payload"));
                case BINBYTES -> push(bytes(in.u32("BINBYTES length"), "BINBYTES payload"));
                case BINBYTES8 -> push(bytes(in.u64("BINBYTES8 length"), "BINBYTES8 payload"));
                case REDUCE -> {
                    Object args = pop();
                    Object callable = pop();
                    push(reduce(callable, args));
                }
                case NEWOBJ -> {
                    Object args = pop();
                    Object cls = pop();
                    push(newObject(cls, args));
                }
                case BUILD -> {
                    Object state = pop();
                    build(top(), state);
                }
                case STOP -> {
                    return finish(pop());
                }
                default -> throw error("opcode " + PickleOpcodes.describe(op) + " is not allowed in a checkpoint shard");
            }
        }
    }

    // ---- stack, memo ----

    private void push(Object v) {
        stack.add(v);
    }

    private int fence() {
        return marks.isEmpty() ? 0 : marks.getLast();
    }

    private Object pop() throws ModelFormatException {
        if (stack.size() <= fence()) {
            throw error("stack underflow");
        }
        return stack.removeLast();
    }

    private Object top() throws ModelFormatException {
        if (stack.size() <= fence()) {
            throw error("stack underflow");
        }
        return stack.getLast();
    }

    private List<Object> popN(int n) throws ModelFormatException {
        if (stack.size() - fence() < n) {
            throw error("stack underflow");
        }
        List<Object> sub = stack.subList(stack.size() - n, stack.size());
        List<Object> items = new ArrayList<>(sub);
        sub.clear();
        return items;
    }

    private List<Object> popToMark() throws ModelFormatException {
        if (marks.isEmpty()) {
            throw error("no MARK on the stack");
        }
        int mark = marks.removeLast();
        List<Object> sub = stack.subList(mark, stack.size());
        List<Object> items = new ArrayList<>(sub);
        sub.clear();
        return items;
    }

    private Object memoGet(long index) throws ModelFormatException {
        Object v = memo.get(index);
        if (v == null) {
            throw error("memo index " + index + " was never stored");
        }
        return v;
    }

    // ---- values ----

    private String string(long length) throws ModelFormatException {
        if (length > MAX_STRING) {
            in.require(length, "string");
            throw error("string of " + length + " bytes (header strings are at most " + MAX_STRING + ")");
        }
        return in.utf8((int) length, "string");
    }

    /** Remembers where a bytes object's content is and skips it: payloads are never read here. */
    private Bytes bytes(long length, String what) throws ModelFormatException {
        long offset = in.position();
        in.skip(length, what);
        return new Bytes(offset, length);
    }

    private GlobalRef global(String module, String name) throws ModelFormatException {
        Global g = Global.of(module, name);
        if (g == null) {
            throw error("refusing global " + printable(module) + "." + printable(name));
        }
        return new GlobalRef(g, module + "." + name);
    }

    private void setItem(Object target, Object key, Object value) throws ModelFormatException {
        if (!(target instanceof PyDict dict)) {
            throw error("SETITEM on " + describe(target));
        }
        if (!(key instanceof String k)) {
            throw error("dict key must be a string, found " + describe(key));
        }
        dict.items.put(k, value);
    }

    // ---- the three constructions the format uses ----

    /** {@code _reconstruct(ndarray, (0,), b'b')} or {@code dtype(spec, False, True)}. */
    private Object reduce(Object callable, Object args) throws ModelFormatException {
        if (!(callable instanceof GlobalRef g)) {
            throw error("REDUCE of " + describe(callable));
        }
        List<Object> a = tuple(args, "arguments of " + g.qualifiedName());
        switch (g.kind()) {
            case RECONSTRUCT -> {
                if (a.size() != 3 || !(a.get(0) instanceof GlobalRef cls) || cls.kind() != Global.NDARRAY
                        || !(a.get(1) instanceof Tuple) || !(a.get(2) instanceof Bytes)) {
                    throw error(g.qualifiedName() + " expects (numpy.ndarray, shape, bytes), found " + describeAll(a));
                }
                return new NdArray();
            }
            case DTYPE -> {
                if (a.size() != 3 || !(a.get(1) instanceof Boolean) || !(a.get(2) instanceof Boolean)) {
                    throw error("numpy.dtype expects (type, align, copy), found " + describeAll(a));
                }
                Object spec = a.get(0);
                if (spec instanceof GlobalRef t && t.kind() == Global.BFLOAT16) {
                    return new NpDType(DType.BF16);
                }
                if (spec instanceof String s) {
                    for (DType d : DType.values()) {
                        if (d != DType.BF16 && d.numpyName().equals(s)) {
                            return new NpDType(d);
                        }
                    }
                }
                throw error("unsupported dtype " + describe(spec) + " (expected f4, i1 or ml_dtypes.bfloat16)");
            }
            default -> throw error("refusing to call " + g.qualifiedName());
        }
    }

    /** {@code QuantizedWeight8bit.__new__(QuantizedWeight8bit)}, the only NEWOBJ in the format. */
    private Object newObject(Object cls, Object args) throws ModelFormatException {
        if (!(cls instanceof GlobalRef g) || g.kind() != Global.QUANTIZED_WEIGHT) {
            throw error("NEWOBJ of " + describe(cls));
        }
        if (!tuple(args, "arguments of QuantizedWeight8bit").isEmpty()) {
            throw error("QuantizedWeight8bit takes no constructor arguments");
        }
        return new QuantPair();
    }

    private void build(Object target, Object state) throws ModelFormatException {
        switch (target) {
            case NdArray arr -> {
                if (arr.built != null) {
                    throw error("ndarray state set twice");
                }
                arr.built = array(state);
            }
            case NpDType dt -> dt.order = byteOrder(dt.type, state);
            case QuantPair q -> {
                if (!(state instanceof PyDict d) || d.items.size() != 2
                        || !(d.items.get("weight") instanceof NdArray w) || w.built == null
                        || !(d.items.get("scales") instanceof NdArray s) || s.built == null) {
                    throw error("QuantizedWeight8bit state must be {weight: ndarray, scales: ndarray}, found " + describe(state));
                }
                q.weight = w.built;
                q.scales = s.built;
            }
            default -> throw error("BUILD of " + describe(target));
        }
    }

    /**
     * ndarray state {@code (1, shape, dtype, fortran_order, data)}: checks C order, a known little-endian dtype and
     * {@code len(data) == prod(shape) * itemsize}.
     */
    private PickledArray array(Object state) throws ModelFormatException {
        List<Object> s = tuple(state, "ndarray state");
        if (s.size() != 5 || !Long.valueOf(1).equals(s.get(0)) || !(s.get(1) instanceof Tuple shapeTuple)
                || !(s.get(2) instanceof NpDType dtype) || !(s.get(3) instanceof Boolean fortran)) {
            throw error("ndarray state must be (1, shape, dtype, fortran_order, bytes), found " + describeAll(s));
        }
        if (!(s.get(4) instanceof Bytes data)) {
            throw error("ndarray data must be raw bytes, found " + describe(s.get(4)));
        }
        if (fortran) {
            throw error("Fortran-order array (fortran_order=True) is not supported");
        }
        if (dtype.order == null) {
            throw error("dtype " + dtype.type.numpyName() + " has no byte order (missing BUILD)");
        }
        long[] shape = new long[shapeTuple.items().size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            if (!(shapeTuple.items().get(i) instanceof Long d) || d < 0) {
                throw error("bad dimension " + describe(shapeTuple.items().get(i)) + " in ndarray shape");
            }
            shape[i] = d;
            try {
                elements = Math.multiplyExact(elements, d);
            } catch (ArithmeticException e) {
                throw error("ndarray shape " + PickledArray.shapeString(shape) + " overflows");
            }
        }
        long expected;
        try {
            expected = Math.multiplyExact(elements, dtype.type.size());
        } catch (ArithmeticException e) {
            throw error("ndarray shape " + PickledArray.shapeString(shape) + " overflows");
        }
        if (data.length() != expected) {
            throw error("ndarray " + dtype.type + " " + PickledArray.shapeString(shape) + " needs " + expected
                    + " bytes but its data has " + data.length());
        }
        return new PickledArray(shape, dtype.type, dtype.order, data.offset(), data.length());
    }

    /** dtype state {@code (3, byteorder, None, None, None, elsize, alignment, flags)}: only little-endian accepted. */
    private ByteOrder byteOrder(DType type, Object state) throws ModelFormatException {
        List<Object> s = tuple(state, "dtype state");
        if (s.size() < 2 || !(s.get(1) instanceof String order)) {
            throw error("dtype state must start with (version, byteorder), found " + describeAll(s));
        }
        // builtin dtypes pickle elsize -1; the bfloat16 user dtype pickles its real size, 2
        if (s.size() > 5 && s.get(5) instanceof Long elsize && elsize != -1 && elsize != type.size()) {
            throw error("dtype " + type.numpyName() + " with element size " + elsize + ", expected " + type.size());
        }
        boolean ok = type.size() == 1 ? order.equals("|") || order.equals("<") : order.equals("<");
        if (!ok) {
            throw error("unsupported byte order '" + printable(order) + "' for " + type.numpyName()
                    + " (expected " + (type.size() == 1 ? "'|'" : "'<', little-endian") + ")");
        }
        return ByteOrder.LITTLE_ENDIAN;
    }

    private PickleShard finish(Object result) throws ModelFormatException {
        if (in.remaining() != 0) {
            throw error(in.remaining() + " unexpected bytes after STOP");
        }
        if (result instanceof NdArray a && a.built != null) {
            return new PickleShard(file, in.size(), protocol, a.built, null);
        }
        if (result instanceof QuantPair q && q.weight != null) {
            if (q.weight.dtype() != DType.INT8 || q.scales.dtype() != DType.BF16) {
                throw error("QuantizedWeight8bit must hold int8 weight and bf16 scales, found "
                        + q.weight.dtype() + " and " + q.scales.dtype());
            }
            return new PickleShard(file, in.size(), protocol, q.weight, q.scales);
        }
        throw error("the pickle yields " + describe(result) + ", expected a numpy array or QuantizedWeight8bit");
    }

    // ---- messages ----

    private List<Object> tuple(Object v, String what) throws ModelFormatException {
        if (!(v instanceof Tuple t)) {
            throw error(what + " must be a tuple, found " + describe(v));
        }
        return t.items();
    }

    private ModelFormatException error(String what) {
        return new ModelFormatException(in.name() + ": offset " + opOffset + ": " + what);
    }

    /** A short type description; never recurses (a list may contain itself). */
    private static String describe(Object v) {
        return switch (v) {
            case String s -> "str '" + printable(s) + "'";
            case Long l -> "int " + l;
            case Boolean b -> b ? "True" : "False";
            case PyNone _ -> "None";
            case Bytes b -> "bytes[" + b.length() + "]";
            case Tuple t -> "tuple of " + t.items().size();
            case PyList _ -> "list";
            case PyDict _ -> "dict";
            case GlobalRef g -> g.qualifiedName();
            case NdArray _ -> "numpy.ndarray";
            case NpDType d -> "numpy.dtype(" + d.type.numpyName() + ")";
            case QuantPair _ -> "QuantizedWeight8bit";
            default -> v.getClass().getSimpleName();
        };
    }

    private static String describeAll(List<Object> items) {
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < items.size() && i < 8; i++) {
            b.append(i == 0 ? "" : ", ").append(describe(items.get(i)));
        }
        return b.append(items.size() > 8 ? ", ...)" : ")").toString();
    }

    /** Escapes control characters and shortens, so names from a hostile file stay on one readable line. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length() && b.length() < 100; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                b.append(String.format("\\x%02x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.length() < 100 ? b.toString() : b + "...";
    }
}
