package grok1j.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.model.Model;
import grok1j.model.PrefixCache;
import grok1j.tokenizer.PieceType;
import grok1j.tokenizer.StreamingDecoder;
import grok1j.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The OpenAI-compatible HTTP API over one {@link Model}: an {@link HttpTransport} (one virtual thread per request), and a
 * {@link Scheduler} thread that batches all running sequences into shared forward passes.
 *
 * <table>
 * <caption>Endpoints</caption>
 * <tr><td>{@code POST /v1/completions}</td><td>continue a prompt (string, strings, token ids); streaming with SSE</td></tr>
 * <tr><td>{@code POST /v1/chat/completions}</td><td>messages through the {@link ChatTemplate}</td></tr>
 * <tr><td>{@code POST /v1/responses}</td><td>the Responses API, stateless: see {@link ResponsesApi}</td></tr>
 * <tr><td>{@code GET /v1/models}</td><td>the one model</td></tr>
 * <tr><td>{@code GET /health}</td><td>503 until the model is ready (and while shutting down), then 200</td></tr>
 * <tr><td>{@code GET /metrics}</td><td>Prometheus text, see {@link Metrics}</td></tr>
 * <tr><td>{@code GET /}</td><td>a page to chat with the model in a browser, see {@link WebPage}</td></tr>
 * <tr><td>{@code POST /tokenize}, {@code POST /detokenize}</td><td>{@code {"prompt"}} to {@code {"tokens"}} and back</td></tr>
 * </table>
 *
 * <p>{@code /completions}, {@code /chat/completions}, {@code /responses} and {@code /models} answer without the
 * {@code /v1} prefix too. While a request waits for its first token, streams get an SSE comment and non-streaming
 * answers a leading space after every {@link ServerConfig#keepAlive()} of silence; a client that hangs up cancels
 * its sequences at the next step.
 *
 * <p>Lifecycle: {@link #start(ServerConfig)} binds and answers {@code /health} with 503; {@link #ready(Model)}
 * starts serving the model; {@link #close()} shuts down gracefully. The server does not close the model.
 */
public final class OpenAiServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(OpenAiServer.class.getName());
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] KEEP_ALIVE_COMMENT = ": keep-alive\n\n".getBytes(StandardCharsets.US_ASCII);

    private final ServerConfig config;
    private final HttpTransport http;
    private final Metrics metrics = new Metrics();
    private final ObjectMapper mapper = new ObjectMapper();
    private final long createdEpoch = System.currentTimeMillis() / 1000;
    private final AtomicBoolean closing = new AtomicBoolean();
    private final CountDownLatch terminated = new CountDownLatch(1);
    private volatile Engine engine;
    /** For tests: every request's events are held back this long, as a very long prefill would hold them. */
    volatile Duration holdEvents = Duration.ZERO;

    /** What serving needs once the model is open. */
    private record Engine(Model model, Tokenizer tokenizer, Scheduler scheduler, RequestParser parser, int context) {
    }

    private OpenAiServer(ServerConfig config) throws IOException {
        this.config = config;
        this.http = new HttpTransport(config, this::handle, this::libraryError);
    }

    /**
     * Binds and starts answering; until {@link #ready(Model)} every model endpoint (and {@code /health}) answers 503.
     *
     * @throws IOException if the address cannot be bound (e.g. the port is taken)
     */
    public static OpenAiServer start(ServerConfig config) throws IOException {
        try {
            return new OpenAiServer(config);
        } catch (IOException e) {
            // Jetty wraps the system's BindException in "Failed to bind to /host:port"; its reason is what a person needs
            Throwable bind = e instanceof java.net.BindException ? e : e.getCause();
            if (!(bind instanceof java.net.BindException) || bind.getMessage() == null) {
                throw e;
            }
            String reason = bind.getMessage().toLowerCase(java.util.Locale.ROOT);
            throw new IOException("cannot listen on " + config.host() + ":" + config.port() + ": " + reason
                    + (reason.contains("in use") ? " (another process has that port)" : ""), e);
        }
    }

    /** Binds and serves {@code model} at once. */
    public static OpenAiServer start(ServerConfig config, Model model) throws IOException {
        OpenAiServer s = start(config);
        s.ready(model);
        return s;
    }

    /** Starts serving {@code model} without a prefix cache: see {@link #ready(Model, PrefixCache)}. */
    public synchronized void ready(Model model) {
        ready(model, null);
    }

    /**
     * Starts serving {@code model}: the scheduler thread starts and {@code /health} turns 200.
     *
     * @param prefixCache prompt prefixes shared by all requests of completions, chat and responses (made for this
     *                    model's network), or null for none
     */
    public synchronized void ready(Model model, PrefixCache prefixCache) {
        if (engine != null) {
            throw new IllegalStateException("the server already serves a model");
        }
        if (closing.get()) {
            throw new IllegalStateException("the server is shut down");
        }
        Scheduler scheduler = new Scheduler(model.network(), model.tokenizer(), config.parallel(), config.queue(), metrics,
                prefixCache);
        int context = model.config().contextLength();
        ChatTemplate template = config.chatTemplate() != null ? config.chatTemplate()
                : ChatTemplate.forModel(model.config().architecture().name(), model.tokenizer());
        RequestParser parser = new RequestParser(model.tokenizer(), context, template, scheduler.capacity());
        engine = new Engine(model, model.tokenizer(), scheduler, parser, context);
    }

    /** The bound port (useful with port 0). */
    public int port() {
        return http.port();
    }

    /** {@code http://host:port}, for clients. */
    public String baseUrl() {
        String h = config.host();
        if (h.contains(":")) {
            h = "[" + h + "]";
        }
        if (h.equals("0.0.0.0") || h.equals("[::]")) {
            h = "127.0.0.1";
        }
        return "http://" + h + ":" + port();
    }

    public ServerConfig config() {
        return config;
    }

    public Metrics metrics() {
        return metrics;
    }

    /**
     * Graceful shutdown: stops taking requests (503), fails the waiting ones, lets running sequences finish for up to
     * {@link ServerConfig#shutdownGrace()} and cancels the rest, then closes the listener. Idempotent.
     */
    @Override
    public void close() {
        if (!closing.compareAndSet(false, true)) {
            awaitQuietly();
            return;
        }
        try {
            Engine e;
            synchronized (this) {
                e = engine;
            }
            if (e != null) {
                e.scheduler().shutdown(config.shutdownGrace());
                e.scheduler().awaitTermination(config.shutdownGrace().plusSeconds(30));
            }
            http.close(); // handlers have their last events by now; it gives them a moment to write them
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        } finally {
            terminated.countDown();
        }
    }

    /**
     * From now on every model endpoint and {@code /health} answer 503 (shutting down), without waiting for anything:
     * for a tensor-parallel server whose other rank failed, in the moment before the process exits.
     */
    public void refuseRequests() {
        closing.set(true);
    }

    /** Blocks until {@link #close()} has finished. */
    public void awaitTermination() throws InterruptedException {
        terminated.await();
    }

    private void awaitQuietly() {
        try {
            terminated.await();
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
    }

    /** For tests: waits until no sequence runs or waits. */
    boolean awaitIdle(Duration timeout) throws InterruptedException {
        Engine e = engine;
        return e == null || e.scheduler().awaitIdle(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    // ------------------------------------------------------------------ routing

    private void handle(Exchange ex) {
        metrics.httpRequests.increment();
        try {
            try {
                limitBody(ex);
                route(ex);
            } catch (ApiException e) {
                if (!ex.started()) {
                    sendError(ex, e);
                }
            } catch (IOException e) {
                // the client went away; nothing to answer
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "internal error on " + ex.path(), e);
                if (!ex.started()) {
                    sendError(ex, new ApiException(500, "server_error", null, null, "internal error: " + e));
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // writing the error failed: the client is gone
        }
    }

    /** The body for an error the HTTP library answers itself (a malformed request, headers too large...). */
    private byte[] libraryError(int status) {
        String message = switch (status) {
            case 400 -> "malformed HTTP request";
            case 408 -> "the request was not received in time";
            case 413 -> "the request body exceeds the limit of " + config.maxBodyBytes() + " bytes";
            case 414 -> "the request URI is too long";
            case 431 -> "the request headers exceed " + HttpTransport.MAX_HEADER_BYTES + " bytes";
            default -> "HTTP error " + status;
        };
        String type = status >= 500 ? "server_error" : "invalid_request_error";
        try {
            return mapper.writeValueAsBytes(errorBody(new ApiException(status, type, null, null, message)));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A declared body over the limit is refused on every route before anything reads it. The body is read and
     * dropped first (up to {@link #DRAIN_LIMIT}) so that a client still sending it sees the 413 rather than a reset
     * connection; a client that sent {@code Expect: 100-continue} never sends it.
     */
    private void limitBody(Exchange ex) throws IOException {
        long declared = ex.contentLength();
        if (declared > config.maxBodyBytes()) {
            drain(ex, declared);
            throw tooLarge(ex);
        }
    }

    /** Bytes of an oversized body read and dropped before answering 413; beyond that the connection is closed. */
    private static final long DRAIN_LIMIT = 256L << 20;

    private void drain(Exchange ex, long declared) throws IOException {
        String expect = ex.header("Expect");
        if ((expect != null && expect.equalsIgnoreCase("100-continue")) || declared > DRAIN_LIMIT) {
            return;
        }
        try (InputStream in = ex.requestBody(config.idleTimeout())) {
            long left = declared < 0 ? DRAIN_LIMIT : declared;
            byte[] buf = new byte[64 * 1024];
            int n;
            while (left > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, left))) > 0) {
                left -= n;
            }
        }
    }

    private void route(Exchange ex) throws IOException {
        String path = ex.path();
        if (WebPage.serves(path)) {
            allow(ex.method(), "GET");
            WebPage.send(ex, path);
            return;
        }
        if (path.length() > 1 && path.endsWith("/")) {
            path = path.substring(0, path.length() - 1);
        }
        if (path.equals("/completions") || path.equals("/chat/completions") || path.equals("/responses")
                || path.equals("/models") || path.startsWith("/models/")) {
            path = "/v1" + path; // as llama.cpp does: clients given a base URL without /v1 append these
        }
        String method = ex.method();
        switch (path) {
            case "/health" -> {
                allow(method, "GET");
                health(ex);
            }
            case "/metrics" -> {
                allow(method, "GET");
                ex.send(200, Metrics.contentType(), metrics.render());
            }
            case "/v1/models" -> {
                allow(method, "GET");
                authorize(ex);
                models(ex, requireReady());
            }
            case "/v1/completions" -> {
                allow(method, "POST");
                authorize(ex);
                complete(ex, false);
            }
            case "/v1/chat/completions" -> {
                allow(method, "POST");
                authorize(ex);
                complete(ex, true);
            }
            case "/v1/responses" -> {
                allow(method, "POST");
                authorize(ex);
                responses(ex);
            }
            case "/tokenize" -> {
                allow(method, "POST");
                authorize(ex);
                tokenize(ex);
            }
            case "/detokenize" -> {
                allow(method, "POST");
                authorize(ex);
                detokenize(ex);
            }
            default -> {
                if (path.startsWith("/v1/models/") && method.equals("GET")) {
                    authorize(ex);
                    Engine e = requireReady();
                    String id = path.substring("/v1/models/".length());
                    if (!id.equals(config.modelId())) {
                        throw new ApiException(404, "invalid_request_error", "model", "model_not_found",
                                "the model '" + id + "' does not exist; this server serves '" + config.modelId() + "'");
                    }
                    sendJson(ex, 200, modelCard(e));
                    return;
                }
                throw new ApiException(404, "invalid_request_error", null, "not_found", "no such endpoint: " + method + " " + path);
            }
        }
    }

    private static void allow(String method, String expected) {
        if (!method.equals(expected)) {
            throw new ApiException(405, "invalid_request_error", null, "method_not_allowed", "use " + expected + ", not " + method);
        }
    }

    private void authorize(Exchange ex) {
        String key = config.apiKey();
        if (key == null) {
            return;
        }
        String h = ex.header("Authorization");
        String given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : null;
        if (given == null || !MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), key.getBytes(StandardCharsets.UTF_8))) {
            ex.setHeader("WWW-Authenticate", "Bearer");
            throw new ApiException(401, "invalid_request_error", null, "invalid_api_key",
                    given == null ? "an API key is required: send Authorization: Bearer <key>" : "incorrect API key");
        }
    }

    private Engine requireReady() {
        if (closing.get()) {
            throw new ApiException(503, "server_error", null, "shutting_down", "the server is shutting down");
        }
        Engine e = engine;
        if (e == null) {
            throw new ApiException(503, "server_error", null, "model_loading", "the model is loading; retry shortly");
        }
        return e;
    }

    private JsonNode readJson(Exchange ex) throws IOException {
        byte[] body;
        try (InputStream in = ex.requestBody(config.idleTimeout())) {
            body = in.readNBytes(config.maxBodyBytes() + 1);
            if (body.length > config.maxBodyBytes()) {
                drain(ex, -1);
                throw tooLarge(ex);
            }
        } catch (IOException e) { // the client hung up, or stalled or dribbled past the idle timeout
            ex.setHeader("Connection", "close");
            throw new ApiException(408, "invalid_request_error", null, "request_timeout",
                    "the request body did not arrive within " + config.idleTimeout().toSeconds() + " s");
        }
        return RequestParser.readBody(mapper, body);
    }

    private ApiException tooLarge(Exchange ex) {
        ex.setHeader("Connection", "close");
        return new ApiException(413, "invalid_request_error", null, "request_too_large",
                "the request body exceeds the limit of " + config.maxBodyBytes() + " bytes");
    }

    // ------------------------------------------------------------------ simple endpoints

    private void health(Exchange ex) throws IOException {
        Engine e = engine;
        if (closing.get()) {
            throw new ApiException(503, "server_error", null, "shutting_down", "the server is shutting down");
        }
        if (e == null) {
            throw new ApiException(503, "server_error", null, "model_loading", "the model is loading");
        }
        ObjectNode o = mapper.createObjectNode();
        o.put("status", "ok");
        o.put("model", config.modelId());
        sendJson(ex, 200, o);
    }

    private ObjectNode modelCard(Engine e) {
        ObjectNode m = mapper.createObjectNode();
        m.put("id", config.modelId());
        m.put("object", "model");
        m.put("created", createdEpoch);
        m.put("owned_by", "grok1j");
        m.put("max_model_len", e.context());
        m.put("architecture", e.model().config().architecture().name()); // grok-1 (base) or grok-2 (chat): for the web page
        return m;
    }

    private void models(Exchange ex, Engine e) throws IOException {
        ObjectNode o = mapper.createObjectNode();
        o.put("object", "list");
        o.putArray("data").add(modelCard(e));
        sendJson(ex, 200, o);
    }

    private void tokenize(Exchange ex) throws IOException {
        Engine e = requireReady();
        JsonNode body = readJson(ex);
        int[] ids = e.parser().tokenizeBody(body);
        ObjectNode o = mapper.createObjectNode();
        ArrayNode t = o.putArray("tokens");
        for (int id : ids) {
            t.add(id);
        }
        o.put("count", ids.length);
        o.put("max_model_len", e.context());
        if (RequestParser.bool(body, "return_token_strs", false)) {
            ArrayNode s = o.putArray("token_strs");
            for (int id : ids) {
                s.add(e.tokenizer().piece(id));
            }
        }
        sendJson(ex, 200, o);
    }

    private void detokenize(Exchange ex) throws IOException {
        Engine e = requireReady();
        JsonNode body = readJson(ex);
        JsonNode t = body.get("tokens");
        if (t == null || !t.isArray()) {
            throw ApiException.invalid("tokens", "tokens must be an array of token ids");
        }
        int vocab = e.tokenizer().vocabSize();
        int[] ids = new int[t.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode v = t.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 0 || v.asInt() >= vocab) {
                throw ApiException.invalid("tokens", "tokens[" + i + "] must be a token id in [0, " + vocab + "), got " + v);
            }
            ids[i] = v.asInt();
        }
        ObjectNode o = mapper.createObjectNode();
        o.put("prompt", e.tokenizer().decode(ids));
        sendJson(ex, 200, o);
    }

    // ------------------------------------------------------------------ completions

    private void responses(Exchange ex) throws IOException {
        Engine e = requireReady();
        JsonNode body = readJson(ex);
        RequestParser.Parsed p;
        try {
            p = e.parser().chat(ResponsesApi.toChat(body, mapper));
        } catch (ApiException x) {
            throw ResponsesApi.renamed(x);
        }
        ResponsesCall call = new ResponsesCall(this, mapper, body, p, config.modelId());
        run(ex, e, p, pending -> {
            if (p.stream()) {
                call.stream(ex, pending);
            } else {
                call.respond(ex, pending);
            }
        });
    }

    private void complete(Exchange ex, boolean chat) throws IOException {
        Engine e = requireReady();
        JsonNode body = readJson(ex);
        RequestParser.Parsed p = chat ? e.parser().chat(body) : e.parser().completion(body);
        run(ex, e, p, pending -> {
            Call call = new Call(e, p, chat, pending, p.sequences());
            if (p.stream()) {
                call.stream(ex);
            } else {
                call.respond(ex);
            }
        });
    }

    /** How a handler answers once its sequences are queued. */
    private interface Answer {
        void write(Pending pending) throws IOException, InterruptedException;
    }

    /**
     * Queues the request's sequences and lets {@code answer} write the response. A client that goes away (or an
     * answer that fails) cancels them: their slots and caches are freed at the next step.
     */
    private void run(Exchange ex, Engine e, RequestParser.Parsed p, Answer answer) throws IOException {
        Scheduler.Request req = new Scheduler.Request();
        List<Scheduler.Job> jobs = new ArrayList<>(p.sequences());
        for (int i = 0; i < p.prompts().size(); i++) {
            SamplingParams sp = p.params().get(i);
            for (int c = 0; c < p.n(); c++) {
                // choice c of a seeded request uses seed + c: choice 0 equals the same request with n = 1
                SamplingParams cp = sp.seed() == null || c == 0 ? sp : sp.withSeed(sp.seed() + c);
                jobs.add(new Scheduler.Job(req, i * p.n() + c, p.prompts().get(i), cp, p.logprobs(), p.echo()));
            }
        }
        e.scheduler().submit(jobs);
        boolean finished = false;
        try (HangUpWatch.Watch w = ex.onDisconnect(() -> e.scheduler().cancel(req))) {
            answer.write(new Pending(e.scheduler(), req, config.keepAlive(), holdEvents));
            finished = true;
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw new ApiException(503, "server_error", null, "shutting_down", "interrupted");
        } finally {
            if (!finished) {
                e.scheduler().cancel(req); // the client went away or we failed: free the slots at the next step
            }
        }
    }

    /** One completions call in flight: gathers the scheduler's events into a response or a stream. */
    private final class Call {
        final Engine e;
        final RequestParser.Parsed p;
        final boolean chat;
        final Pending pending;
        final int choices;
        final String id;
        final long created = System.currentTimeMillis() / 1000;
        final int[] textOffset;
        final List<List<TokenLogprobs>> logprobs = new ArrayList<>();
        final List<List<Integer>> offsets = new ArrayList<>();
        final List<List<TokenLogprobs>> promptLogprobs = new ArrayList<>();
        /** Per choice, prompt positions served by the prefix cache (known when it is done). */
        final int[] cached;

        Call(Engine e, RequestParser.Parsed p, boolean chat, Pending pending, int choices) {
            this.e = e;
            this.p = p;
            this.chat = chat;
            this.pending = pending;
            this.choices = choices;
            this.id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
            this.textOffset = new int[choices];
            this.cached = new int[choices];
            for (int i = 0; i < choices; i++) {
                logprobs.add(new ArrayList<>());
                offsets.add(new ArrayList<>());
                promptLogprobs.add(null);
                textOffset[i] = p.echo() ? promptText(i).length() : 0;
            }
        }

        String promptText(int index) {
            return p.promptTexts().get(index / p.n());
        }

        int promptTokens() {
            int n = 0;
            for (int[] ids : p.prompts()) {
                n += ids.length;
            }
            return n;
        }

        /** Records a token's log-probabilities and where its text starts. */
        void note(Scheduler.TokenEvent t) {
            if (t.logprobs() != null) {
                logprobs.get(t.index()).add(t.logprobs());
                offsets.get(t.index()).add(textOffset[t.index()]);
            }
            textOffset[t.index()] += t.text().length();
        }

        void respond(Exchange ex) throws IOException, InterruptedException {
            GenerationResult[] results = new GenerationResult[choices];
            int done = 0;
            keepJsonAlive(ex, pending);
            while (done < choices) {
                Scheduler.Event ev;
                try {
                    ev = pending.next();
                } catch (ApiException x) {
                    finishJson(ex, x.status(), errorBody(x));
                    return;
                }
                switch (ev) {
                    case Scheduler.PromptEvent pe -> promptLogprobs.set(pe.index(), pe.logprobs());
                    case Scheduler.TokenEvent t -> note(t);
                    case Scheduler.DoneEvent d -> {
                        results[d.index()] = d.result();
                        cached[d.index()] = d.result().promptTokensReused();
                        done++;
                    }
                    case Scheduler.FailedEvent f -> {
                        pending.cancel(); // the other choices too
                        finishJson(ex, f.error().status(), errorBody(f.error()));
                        return;
                    }
                }
            }
            ObjectNode o = mapper.createObjectNode();
            o.put("id", id);
            o.put("object", chat ? "chat.completion" : "text_completion");
            o.put("created", created);
            o.put("model", config.modelId());
            ArrayNode cs = o.putArray("choices");
            int generated = 0;
            for (int i = 0; i < choices; i++) {
                GenerationResult r = results[i];
                generated += r.ids().length;
                ObjectNode c = cs.addObject();
                c.put("index", i);
                String finish = r.finishReason().apiName();
                if (chat) {
                    ObjectNode m = c.putObject("message");
                    m.put("role", "assistant");
                    ToolCallScanner calls = p.tools() == null ? null : new ToolCallScanner(p.tools().forced());
                    if (calls != null) {
                        calls.feed(r.text());
                        calls.finish();
                    }
                    if (calls != null && calls.calling()) {
                        m.putNull("content");
                        ArrayNode tc = m.putArray("tool_calls");
                        for (ToolCallScanner.Call call : calls.calls()) {
                            ObjectNode t = tc.addObject();
                            t.put("id", call.id());
                            t.put("type", "function");
                            t.putObject("function").put("name", call.name()).put("arguments", call.arguments());
                        }
                        finish = toolFinish(r);
                    } else {
                        m.put("content", r.text());
                    }
                    m.putNull("refusal");
                } else {
                    c.put("text", p.echo() ? promptText(i) + r.text() : r.text());
                }
                c.set("logprobs", logprobsJson(i, promptLogprobs.get(i), logprobs.get(i), offsets.get(i)));
                c.put("finish_reason", finish);
            }
            o.set("usage", usage(generated));
            finishJson(ex, 200, o);
        }

        void stream(Exchange ex) throws IOException, InterruptedException {
            OutputStream out = startEvents(ex, pending);
            ToolCallScanner[] scanners = new ToolCallScanner[choices];
            for (int i = 0; i < choices; i++) {
                if (chat) {
                    ObjectNode delta = mapper.createObjectNode();
                    delta.put("role", "assistant");
                    if (p.tools() != null) {
                        scanners[i] = new ToolCallScanner(p.tools().forced());
                        delta.putNull("content"); // as OpenAI's first delta when the reply may be tool calls
                    } else {
                        delta.put("content", "");
                    }
                    event(out, chunk(i, delta, null, null));
                } else if (p.echo() && p.logprobs() < 0) {
                    event(out, chunk(i, promptText(i), null, null));
                } // with logprobs, the echo goes out with the prompt's log-probabilities (PromptEvent)
            }
            int done = 0;
            int generated = 0;
            int[] sent = new int[choices]; // logprobs already sent, per choice
            while (done < choices) {
                Scheduler.Event ev;
                try {
                    ev = pending.next();
                } catch (ApiException x) {
                    event(out, errorBody(x));
                    out.write(DONE);
                    out.flush();
                    return;
                }
                switch (ev) {
                    case Scheduler.PromptEvent pe ->
                            event(out, chunk(pe.index(), promptText(pe.index()), logprobsJson(pe.index(), pe.logprobs(), List.of(), List.of()), null));
                    case Scheduler.TokenEvent t -> {
                        note(t);
                        if (scanners[t.index()] != null) {
                            sendParts(out, t.index(), scanners[t.index()].feed(t.text()), sent);
                        } else if (!t.text().isEmpty()) {
                            event(out, chunk(t.index(), t.text(), pendingLogprobs(t.index(), sent), null));
                        }
                    }
                    case Scheduler.DoneEvent d -> {
                        done++;
                        generated += d.result().ids().length;
                        cached[d.index()] = d.result().promptTokensReused();
                        String finish = d.result().finishReason().apiName();
                        ToolCallScanner sc = scanners[d.index()];
                        if (sc != null) {
                            sendParts(out, d.index(), sc.finish(), sent);
                            if (sc.calling()) {
                                finish = toolFinish(d.result());
                            }
                        }
                        event(out, chunk(d.index(), "", pendingLogprobs(d.index(), sent), finish));
                    }
                    case Scheduler.FailedEvent f -> {
                        ObjectNode err = errorBody(f.error());
                        event(out, err);
                        out.write(DONE);
                        out.flush();
                        pending.cancel();
                        return;
                    }
                }
            }
            if (p.includeUsage()) {
                ObjectNode u = base(chat ? "chat.completion.chunk" : "text_completion");
                u.putArray("choices");
                u.set("usage", usage(generated));
                event(out, u);
            }
            out.write(DONE);
            out.flush();
        }

        /** A reply that is tool calls ends with "tool_calls" when its array is complete. */
        private static String toolFinish(GenerationResult r) {
            return r.finishReason() == grok1j.generate.FinishReason.STOP ? "tool_calls" : r.finishReason().apiName();
        }

        /** Streams a tool-enabled choice's parts: content deltas, or {@code tool_calls} deltas. */
        private void sendParts(OutputStream out, int index, List<ToolCallScanner.Part> parts, int[] sent) throws IOException {
            for (ToolCallScanner.Part part : parts) {
                ObjectNode delta = mapper.createObjectNode();
                switch (part) {
                    case ToolCallScanner.Content c -> delta.put("content", c.text());
                    case ToolCallScanner.CallStart s -> {
                        ObjectNode t = delta.putArray("tool_calls").addObject();
                        t.put("index", s.index());
                        t.put("id", s.id());
                        t.put("type", "function");
                        t.putObject("function").put("name", s.name()).put("arguments", "");
                    }
                    case ToolCallScanner.Arguments a -> {
                        ObjectNode t = delta.putArray("tool_calls").addObject();
                        t.put("index", a.index());
                        t.putObject("function").put("arguments", a.fragment());
                    }
                }
                event(out, chunk(index, delta, pendingLogprobs(index, sent), null));
            }
        }

        /** Log-probabilities not yet sent for choice {@code index}, as JSON (null when none were asked for). */
        private JsonNode pendingLogprobs(int index, int[] sent) {
            if (p.logprobs() < 0) {
                return null;
            }
            List<TokenLogprobs> all = logprobs.get(index);
            List<TokenLogprobs> part = all.subList(sent[index], all.size());
            List<Integer> offs = offsets.get(index).subList(sent[index], all.size());
            JsonNode j = logprobsJson(index, null, new ArrayList<>(part), new ArrayList<>(offs));
            sent[index] = all.size();
            return j;
        }

        private ObjectNode base(String object) {
            ObjectNode o = mapper.createObjectNode();
            o.put("id", id);
            o.put("object", object);
            o.put("created", created);
            o.put("model", config.modelId());
            return o;
        }

        private ObjectNode chunk(int index, String text, JsonNode lp, String finish) {
            if (chat) {
                ObjectNode delta = mapper.createObjectNode();
                if (!text.isEmpty() || finish == null) {
                    delta.put("content", text);
                }
                return chunk(index, delta, lp, finish);
            }
            return streamChunk("text_completion", index, "text", mapper.getNodeFactory().textNode(text), lp, finish);
        }

        private ObjectNode chunk(int index, ObjectNode delta, JsonNode lp, String finish) {
            return streamChunk("chat.completion.chunk", index, "delta", delta, lp, finish);
        }

        /** One streamed chunk with a single choice: {@code field} carries the new text (completions) or delta (chat). */
        private ObjectNode streamChunk(String object, int index, String field, JsonNode content, JsonNode lp, String finish) {
            ObjectNode o = base(object);
            ObjectNode c = o.putArray("choices").addObject();
            c.put("index", index);
            c.set(field, content);
            c.set("logprobs", lp == null ? mapper.nullNode() : lp);
            if (finish == null) {
                c.putNull("finish_reason");
            } else {
                c.put("finish_reason", finish);
            }
            if (p.includeUsage()) {
                o.putNull("usage");
            }
            return o;
        }

        private ObjectNode usage(int generated) {
            ObjectNode u = mapper.createObjectNode();
            int prompt = promptTokens();
            u.put("prompt_tokens", prompt);
            u.put("completion_tokens", generated);
            u.put("total_tokens", prompt + generated);
            // the prompt counts once per prompt (not per choice): the cached positions of each prompt's first choice
            int hit = 0;
            for (int i = 0; i < cached.length; i += p.n()) {
                hit += cached[i];
            }
            u.putObject("prompt_tokens_details").put("cached_tokens", hit);
            return u;
        }

        /** The OpenAI logprobs object: legacy shape for completions, {@code content} list for chat. */
        private JsonNode logprobsJson(int index, List<TokenLogprobs> promptLps, List<TokenLogprobs> lps, List<Integer> offs) {
            if (p.logprobs() < 0) {
                return mapper.nullNode();
            }
            Tokenizer tok = e.tokenizer();
            ObjectNode o = mapper.createObjectNode();
            if (chat) {
                ArrayNode content = o.putArray("content");
                for (TokenLogprobs lp : lps) {
                    ObjectNode t = content.addObject();
                    tokenEntry(t, tok, lp.id(), lp.logprob());
                    ArrayNode top = t.putArray("top_logprobs");
                    for (int k = 0; k < lp.topIds().length; k++) {
                        tokenEntry(top.addObject(), tok, lp.topIds()[k], lp.topLogprobs()[k]);
                    }
                }
                return o;
            }
            ArrayNode tokens = o.putArray("tokens");
            ArrayNode values = o.putArray("token_logprobs");
            ArrayNode tops = o.putArray("top_logprobs");
            ArrayNode offsets = o.putArray("text_offset");
            if (promptLps != null) {
                // echo: the prompt's tokens first; the first has no log-probability (nothing precedes it)
                int[] ids = p.prompts().get(index / p.n());
                StreamingDecoder dec = tok.streamingDecoder();
                int at = 0;
                boolean dummyPrefix = true;
                for (int i = 0; i < ids.length; i++) {
                    String text = tokenText(tok, ids[i]);
                    if (dummyPrefix && tok.type(ids[i]) != PieceType.CONTROL) {
                        // the text drops the space SentencePiece adds before the first piece (spec §7.3): so does
                        // its token, so that the tokens concatenate to the text ("Hello", not " Hello")
                        dummyPrefix = false;
                        text = text.startsWith(" ") ? text.substring(1) : text;
                    }
                    tokens.add(text);
                    offsets.add(at);
                    at += dec.push(ids[i]).length();
                    if (i == 0) {
                        values.addNull();
                        tops.addNull();
                        continue;
                    }
                    TokenLogprobs lp = promptLps.get(i - 1);
                    values.add(lp.logprob());
                    tops.add(topMap(tok, lp));
                }
            }
            for (int i = 0; i < lps.size(); i++) {
                TokenLogprobs lp = lps.get(i);
                tokens.add(tokenText(tok, lp.id()));
                values.add(lp.logprob());
                tops.add(topMap(tok, lp));
                offsets.add(offs.get(i));
            }
            return o;
        }

        /** The k most likely tokens and the chosen one (OpenAI lists up to logprobs + 1), most likely first. */
        private ObjectNode topMap(Tokenizer tok, TokenLogprobs lp) {
            List<Map.Entry<String, Float>> entries = new ArrayList<>();
            boolean chosenListed = false;
            for (int k = 0; k < lp.topIds().length; k++) {
                chosenListed |= lp.topIds()[k] == lp.id();
                entries.add(Map.entry(tokenText(tok, lp.topIds()[k]), lp.topLogprobs()[k]));
            }
            if (!chosenListed && p.logprobs() > 0) {
                entries.add(Map.entry(tokenText(tok, lp.id()), lp.logprob()));
            }
            entries.sort((a, b) -> Float.compare(b.getValue(), a.getValue()));
            ObjectNode t = mapper.createObjectNode();
            for (Map.Entry<String, Float> en : entries) {
                if (!t.has(en.getKey())) {
                    t.put(en.getKey(), en.getValue());
                }
            }
            return t;
        }

        private void tokenEntry(ObjectNode t, Tokenizer tok, int id, float logprob) {
            t.put("token", tokenText(tok, id));
            t.put("logprob", logprob);
            ArrayNode bytes = t.putArray("bytes");
            for (byte x : tokenBytes(tok, id)) {
                bytes.add(x & 0xFF);
            }
        }

        private void event(OutputStream out, ObjectNode o) throws IOException {
            pending.sent();
            byte[] json = mapper.writeValueAsBytes(o);
            byte[] frame = new byte[json.length + 8];
            System.arraycopy("data: ".getBytes(StandardCharsets.US_ASCII), 0, frame, 0, 6);
            System.arraycopy(json, 0, frame, 6, json.length);
            frame[frame.length - 2] = '\n';
            frame[frame.length - 1] = '\n';
            out.write(frame);
            out.flush();
        }
    }

    /**
     * A token's bytes as logprobs report them ({@code bytes}): a byte piece's byte, a tiktoken token that is not UTF-8
     * on its own as its raw bytes (its {@link #tokenText} is {@code <0xXX>} text), else the UTF-8 of its text.
     */
    static byte[] tokenBytes(Tokenizer tok, int id) {
        int b = tok.byteValue(id);
        if (b >= 0) {
            return new byte[] {(byte) b};
        }
        byte[] raw = tok.rawBytes(id);
        return raw != null ? raw : tokenText(tok, id).getBytes(StandardCharsets.UTF_8);
    }

    /** A token's text as the API shows it: spaces for "▁", byte pieces as {@code <0xXX>}, control pieces by name. */
    static String tokenText(Tokenizer tok, int id) {
        String piece = tok.piece(id);
        if (tok.type(id) == PieceType.BYTE) {
            return piece;
        }
        return piece.replace('\u2581', ' ');
    }

    // ------------------------------------------------------------------ responses

    ObjectNode errorBody(ApiException e) {
        ObjectNode o = mapper.createObjectNode();
        ObjectNode err = o.putObject("error");
        err.put("message", e.getMessage());
        err.put("type", e.type());
        if (e.param() == null) {
            err.putNull("param");
        } else {
            err.put("param", e.param());
        }
        if (e.code() == null) {
            err.putNull("code");
        } else {
            err.put("code", e.code());
        }
        return o;
    }

    /** A stream's headers, at once; an SSE comment after every silence of {@link ServerConfig#keepAlive()}. */
    static OutputStream startEvents(Exchange ex, Pending pending) throws IOException {
        ex.setHeader("Content-Type", "text/event-stream; charset=utf-8");
        ex.setHeader("Cache-Control", "no-cache");
        ex.setHeader("X-Accel-Buffering", "no");
        OutputStream out = ex.start(200, -1);
        pending.keepAlive(() -> {
            out.write(KEEP_ALIVE_COMMENT);
            out.flush();
        });
        return out;
    }

    /** A non-streaming answer: after every silence a space (the first one sends the 200 and headers); JSON follows. */
    static void keepJsonAlive(Exchange ex, Pending pending) {
        pending.keepAlive(() -> {
            if (!ex.started()) {
                ex.setHeader("Content-Type", "application/json");
                ex.start(200, -1);
            }
            ex.body().write(' ');
            ex.body().flush();
        });
    }

    /** Sends a JSON answer, or ends with it a body that keep-alive spaces started (an error then comes with 200). */
    void finishJson(Exchange ex, int status, JsonNode body) throws IOException {
        if (ex.started()) {
            ex.body().write(mapper.writeValueAsBytes(body));
        } else {
            sendJson(ex, status, body);
        }
    }

    private void sendError(Exchange ex, ApiException e) throws IOException {
        if (e.status() == 429) {
            ex.setHeader("Retry-After", "1");
        }
        sendJson(ex, e.status(), errorBody(e));
    }

    private void sendJson(Exchange ex, int status, JsonNode body) throws IOException {
        ex.send(status, "application/json", mapper.writeValueAsBytes(body));
    }

}
