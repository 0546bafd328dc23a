package grok1j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import grok1j.generate.GenerationResult;
import grok1j.generate.SamplingParams;
import grok1j.model.Model;
import grok1j.tokenizer.PieceType;
import grok1j.tokenizer.StreamingDecoder;
import grok1j.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The OpenAI-compatible HTTP API over one {@link Model}: the JDK HTTP server, one virtual thread per request, and a
 * {@link Scheduler} thread that batches all running sequences into shared forward passes.
 *
 * <table>
 * <caption>Endpoints</caption>
 * <tr><td>{@code POST /v1/completions}</td><td>continue a prompt (string, strings, token ids); streaming with SSE</td></tr>
 * <tr><td>{@code POST /v1/chat/completions}</td><td>messages through the {@link ChatTemplate}</td></tr>
 * <tr><td>{@code GET /v1/models}</td><td>the one model</td></tr>
 * <tr><td>{@code GET /health}</td><td>503 until the model is ready (and while shutting down), then 200</td></tr>
 * <tr><td>{@code GET /metrics}</td><td>Prometheus text, see {@link Metrics}</td></tr>
 * <tr><td>{@code POST /tokenize}, {@code POST /detokenize}</td><td>{@code {"prompt"}} to {@code {"tokens"}} and back</td></tr>
 * </table>
 *
 * <p>Lifecycle: {@link #start(ServerConfig)} binds and answers {@code /health} with 503; {@link #ready(Model)}
 * starts serving the model; {@link #close()} shuts down gracefully. The server does not close the model.
 */
public final class OpenAiServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(OpenAiServer.class.getName());
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);

    private final ServerConfig config;
    private final HttpServer http;
    private final ExecutorService executor;
    private final Metrics metrics = new Metrics();
    private final ObjectMapper mapper = new ObjectMapper();
    private final long createdEpoch = System.currentTimeMillis() / 1000;
    private final AtomicBoolean closing = new AtomicBoolean();
    private final CountDownLatch terminated = new CountDownLatch(1);
    private volatile Engine engine;

    /** What serving needs once the model is open. */
    private record Engine(Model model, Tokenizer tokenizer, Scheduler scheduler, RequestParser parser, int context) {
    }

    private OpenAiServer(ServerConfig config) throws IOException {
        this.config = config;
        this.http = HttpServer.create(new InetSocketAddress(config.host(), config.port()), 128);
        this.executor = Executors.newVirtualThreadPerTaskExecutor();
        http.setExecutor(executor);
        http.createContext("/", this::handle);
        http.start();
    }

    /**
     * Binds and starts answering; until {@link #ready(Model)} every model endpoint (and {@code /health}) answers 503.
     *
     * @throws IOException if the address cannot be bound (e.g. the port is taken)
     */
    public static OpenAiServer start(ServerConfig config) throws IOException {
        try {
            return new OpenAiServer(config);
        } catch (java.net.BindException e) {
            throw new IOException("cannot listen on " + config.host() + ":" + config.port() + ": " + e.getMessage(), e);
        }
    }

    /** Binds and serves {@code model} at once. */
    public static OpenAiServer start(ServerConfig config, Model model) throws IOException {
        OpenAiServer s = start(config);
        s.ready(model);
        return s;
    }

    /** Starts serving {@code model}: the scheduler thread starts and {@code /health} turns 200. */
    public synchronized void ready(Model model) {
        if (engine != null) {
            throw new IllegalStateException("the server already serves a model");
        }
        if (closing.get()) {
            throw new IllegalStateException("the server is shut down");
        }
        Scheduler scheduler = new Scheduler(model.network(), model.tokenizer(), config.parallel(), config.queue(), metrics);
        int context = model.config().contextLength();
        RequestParser parser = new RequestParser(model.tokenizer(), context, config.chatTemplate(), scheduler.capacity());
        engine = new Engine(model, model.tokenizer(), scheduler, parser, context);
    }

    /** The bound port (useful with port 0). */
    public int port() {
        return http.getAddress().getPort();
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
            http.stop(2); // handlers have their last events by now; give them a moment to write them
            executor.shutdown();
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        } finally {
            terminated.countDown();
        }
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

    private void handle(HttpExchange ex) {
        metrics.httpRequests.increment();
        try (ex) {
            try {
                route(ex);
            } catch (ApiException e) {
                if (ex.getResponseCode() == -1) {
                    sendError(ex, e);
                }
            } catch (IOException e) {
                // the client went away; nothing to answer
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "internal error on " + ex.getRequestURI(), e);
                if (ex.getResponseCode() == -1) {
                    sendError(ex, new ApiException(500, "server_error", null, null, "internal error: " + e));
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // writing the error failed: the client is gone
        }
    }

    private void route(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        if (path.length() > 1 && path.endsWith("/")) {
            path = path.substring(0, path.length() - 1);
        }
        String method = ex.getRequestMethod();
        switch (path) {
            case "/health" -> {
                allow(method, "GET");
                health(ex);
            }
            case "/metrics" -> {
                allow(method, "GET");
                send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.render().getBytes(StandardCharsets.UTF_8));
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

    private void authorize(HttpExchange ex) {
        String key = config.apiKey();
        if (key == null) {
            return;
        }
        String h = ex.getRequestHeaders().getFirst("Authorization");
        String given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : null;
        if (given == null || !MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), key.getBytes(StandardCharsets.UTF_8))) {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
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

    private JsonNode readJson(HttpExchange ex) throws IOException {
        String len = ex.getRequestHeaders().getFirst("Content-Length");
        if (len != null) {
            try {
                if (Long.parseLong(len.trim()) > config.maxBodyBytes()) {
                    throw tooLarge();
                }
            } catch (NumberFormatException e) {
                throw ApiException.invalid(null, "bad Content-Length: " + len);
            }
        }
        byte[] body;
        try (InputStream in = ex.getRequestBody()) {
            body = in.readNBytes(config.maxBodyBytes() + 1);
        }
        if (body.length > config.maxBodyBytes()) {
            throw tooLarge();
        }
        return RequestParser.readBody(mapper, body);
    }

    private ApiException tooLarge() {
        return new ApiException(413, "invalid_request_error", null, "request_too_large",
                "the request body exceeds the limit of " + config.maxBodyBytes() + " bytes");
    }

    // ------------------------------------------------------------------ simple endpoints

    private void health(HttpExchange ex) throws IOException {
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
        return m;
    }

    private void models(HttpExchange ex, Engine e) throws IOException {
        ObjectNode o = mapper.createObjectNode();
        o.put("object", "list");
        o.putArray("data").add(modelCard(e));
        sendJson(ex, 200, o);
    }

    private void tokenize(HttpExchange ex) throws IOException {
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

    private void detokenize(HttpExchange ex) throws IOException {
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

    private void complete(HttpExchange ex, boolean chat) throws IOException {
        Engine e = requireReady();
        JsonNode body = readJson(ex);
        RequestParser.Parsed p = chat ? e.parser().chat(body) : e.parser().completion(body);
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
        try {
            Call call = new Call(e, p, chat, req, jobs.size());
            if (p.stream()) {
                call.stream(ex);
            } else {
                call.respond(ex);
            }
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
        final Scheduler.Request req;
        final int choices;
        final String id;
        final long created = System.currentTimeMillis() / 1000;
        final int[] textOffset;
        final List<List<TokenLogprobs>> logprobs = new ArrayList<>();
        final List<List<Integer>> offsets = new ArrayList<>();
        final List<List<TokenLogprobs>> promptLogprobs = new ArrayList<>();

        Call(Engine e, RequestParser.Parsed p, boolean chat, Scheduler.Request req, int choices) {
            this.e = e;
            this.p = p;
            this.chat = chat;
            this.req = req;
            this.choices = choices;
            this.id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
            this.textOffset = new int[choices];
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

        /** The next event; fails rather than waiting forever if the scheduler thread is gone. */
        Scheduler.Event next() throws InterruptedException {
            while (true) {
                Scheduler.Event ev = req.events.poll(1, TimeUnit.SECONDS);
                if (ev != null) {
                    return ev;
                }
                if (!e.scheduler().alive()) {
                    ev = req.events.poll();
                    if (ev != null) {
                        return ev;
                    }
                    throw new ApiException(503, "server_error", null, "shutting_down", "the scheduler has stopped");
                }
            }
        }

        /** Records a token's log-probabilities and where its text starts. */
        void note(Scheduler.TokenEvent t) {
            if (t.logprobs() != null) {
                logprobs.get(t.index()).add(t.logprobs());
                offsets.get(t.index()).add(textOffset[t.index()]);
            }
            textOffset[t.index()] += t.text().length();
        }

        void respond(HttpExchange ex) throws IOException, InterruptedException {
            GenerationResult[] results = new GenerationResult[choices];
            int done = 0;
            while (done < choices) {
                Scheduler.Event ev = next();
                switch (ev) {
                    case Scheduler.PromptEvent pe -> promptLogprobs.set(pe.index(), pe.logprobs());
                    case Scheduler.TokenEvent t -> note(t);
                    case Scheduler.DoneEvent d -> {
                        results[d.index()] = d.result();
                        done++;
                    }
                    case Scheduler.FailedEvent f -> throw f.error();
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
                if (chat) {
                    ObjectNode m = c.putObject("message");
                    m.put("role", "assistant");
                    m.put("content", r.text());
                    m.putNull("refusal");
                } else {
                    c.put("text", p.echo() ? promptText(i) + r.text() : r.text());
                }
                c.set("logprobs", logprobsJson(i, promptLogprobs.get(i), logprobs.get(i), offsets.get(i)));
                c.put("finish_reason", r.finishReason().apiName());
            }
            o.set("usage", usage(generated));
            sendJson(ex, 200, o);
        }

        void stream(HttpExchange ex) throws IOException, InterruptedException {
            ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
            ex.getResponseHeaders().set("Cache-Control", "no-cache");
            ex.getResponseHeaders().set("X-Accel-Buffering", "no");
            ex.sendResponseHeaders(200, 0);
            OutputStream out = ex.getResponseBody();
            for (int i = 0; i < choices; i++) {
                if (chat) {
                    ObjectNode delta = mapper.createObjectNode();
                    delta.put("role", "assistant");
                    delta.put("content", "");
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
                    ev = next();
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
                        if (!t.text().isEmpty()) {
                            event(out, chunk(t.index(), t.text(), pendingLogprobs(t.index(), sent), null));
                        }
                    }
                    case Scheduler.DoneEvent d -> {
                        done++;
                        generated += d.result().ids().length;
                        event(out, chunk(d.index(), "", pendingLogprobs(d.index(), sent), d.result().finishReason().apiName()));
                    }
                    case Scheduler.FailedEvent f -> {
                        ObjectNode err = errorBody(f.error());
                        event(out, err);
                        out.write(DONE);
                        out.flush();
                        e.scheduler().cancel(req);
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
            int b = tok.byteValue(id);
            if (b >= 0) {
                bytes.add(b);
            } else {
                for (byte x : tokenText(tok, id).getBytes(StandardCharsets.UTF_8)) {
                    bytes.add(x & 0xFF);
                }
            }
        }

        private void event(OutputStream out, ObjectNode o) throws IOException {
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

    /** A token's text as the API shows it: spaces for "▁", byte pieces as {@code <0xXX>}, control pieces by name. */
    static String tokenText(Tokenizer tok, int id) {
        String piece = tok.piece(id);
        if (tok.type(id) == PieceType.BYTE) {
            return piece;
        }
        return piece.replace('\u2581', ' ');
    }

    // ------------------------------------------------------------------ responses

    private ObjectNode errorBody(ApiException e) {
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

    private void sendError(HttpExchange ex, ApiException e) throws IOException {
        if (e.status() == 429) {
            ex.getResponseHeaders().set("Retry-After", "1");
        }
        sendJson(ex, e.status(), errorBody(e));
    }

    private void sendJson(HttpExchange ex, int status, JsonNode body) throws IOException {
        send(ex, status, "application/json", mapper.writeValueAsBytes(body));
    }

    private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }
}
