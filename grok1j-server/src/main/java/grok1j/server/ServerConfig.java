package grok1j.server;

import java.time.Duration;
import java.util.Objects;

/**
 * Settings of an {@link OpenAiServer}. Start from {@link #defaults()} and adjust with the {@code with...} methods.
 *
 * @param host          bind address (default 127.0.0.1: loopback only)
 * @param port          TCP port; 0 picks a free one (default 8000)
 * @param apiKey        when not null, every {@code /v1/*}, {@code /tokenize} and {@code /detokenize} request needs
 *                      {@code Authorization: Bearer <apiKey>}; {@code /health} and {@code /metrics} stay open
 * @param parallel      sequences decoded together in one batch, each with its own KV cache (default 4)
 * @param queue         sequences that may wait for a slot; beyond that requests get 429 (default 64)
 * @param maxBodyBytes  largest request body accepted, bytes (default 8 MiB); larger is 413
 * @param chatTemplate  how chat messages become a prompt; null (the default): the model's own, {@link ChatTemplate#forModel}
 * @param modelId       the id {@code /v1/models} lists and responses carry
 * @param shutdownGrace how long running requests may continue after {@link OpenAiServer#close()} before they are
 *                      cancelled (default 10 s)
 * @param idleTimeout   how long a connection may stay silent (idle between requests, or stalled sending headers or a
 *                      body) before it is closed, and the most a connection's first request head or a request body
 *                      may take in all (default 30 s)
 * @param maxConnections open connections at most; more wait in the accept queue (default 1024)
 * @param keepAlive     while a request waits for its first token (a long prefill, a queue), at least this often a
 *                      stream gets an SSE comment and a non-streaming response a space before its JSON, so clients'
 *                      read timeouts measure silence, not work (default 5 s); keep it below {@code idleTimeout}
 */
public record ServerConfig(String host, int port, String apiKey, int parallel, int queue, int maxBodyBytes,
                           ChatTemplate chatTemplate, String modelId, Duration shutdownGrace, Duration idleTimeout,
                           int maxConnections, Duration keepAlive) {

    public ServerConfig {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(modelId, "modelId");
        Objects.requireNonNull(shutdownGrace, "shutdownGrace");
        Objects.requireNonNull(idleTimeout, "idleTimeout");
        Objects.requireNonNull(keepAlive, "keepAlive");
        if (idleTimeout.toMillis() < 1) {
            throw new IllegalArgumentException("the idle timeout must be positive, got " + idleTimeout);
        }
        if (keepAlive.toMillis() < 1) {
            throw new IllegalArgumentException("the keep-alive interval must be positive, got " + keepAlive);
        }
        if (maxConnections < 1) {
            throw new IllegalArgumentException("maxConnections must be >= 1, got " + maxConnections);
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
        }
        if (parallel < 1 || parallel > 1024) {
            throw new IllegalArgumentException("parallel must be in [1, 1024], got " + parallel);
        }
        if (queue < 0) {
            throw new IllegalArgumentException("queue must be >= 0, got " + queue);
        }
        if (maxBodyBytes < 1024) {
            throw new IllegalArgumentException("the body size limit must be at least 1024 bytes, got " + maxBodyBytes);
        }
        if (apiKey != null && apiKey.isBlank()) {
            throw new IllegalArgumentException("the API key must not be blank");
        }
    }

    public static ServerConfig defaults() {
        return new ServerConfig("127.0.0.1", 8000, null, 4, 64, 8 << 20, null, "grok-1",
                Duration.ofSeconds(10), Duration.ofSeconds(30), 1024, Duration.ofSeconds(5));
    }

    public ServerConfig withHost(String h) {
        return new ServerConfig(h, port, apiKey, parallel, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace,
                idleTimeout, maxConnections, keepAlive);
    }

    public ServerConfig withPort(int p) {
        return new ServerConfig(host, p, apiKey, parallel, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace,
                idleTimeout, maxConnections, keepAlive);
    }

    public ServerConfig withApiKey(String k) {
        return new ServerConfig(host, port, k, parallel, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace,
                idleTimeout, maxConnections, keepAlive);
    }

    public ServerConfig withParallel(int n) {
        return new ServerConfig(host, port, apiKey, n, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace,
                idleTimeout, maxConnections, keepAlive);
    }

    public ServerConfig withQueue(int n) {
        return new ServerConfig(host, port, apiKey, parallel, n, maxBodyBytes, chatTemplate, modelId, shutdownGrace,
                idleTimeout, maxConnections, keepAlive);
    }

    public ServerConfig withMaxBodyBytes(int n) {
        return new ServerConfig(host, port, apiKey, parallel, queue, n, chatTemplate, modelId, shutdownGrace,
                idleTimeout, maxConnections, keepAlive);
    }

    public ServerConfig withChatTemplate(ChatTemplate t) {
        return new ServerConfig(host, port, apiKey, parallel, queue, maxBodyBytes, t, modelId, shutdownGrace,
                idleTimeout, maxConnections, keepAlive);
    }

    public ServerConfig withModelId(String id) {
        return new ServerConfig(host, port, apiKey, parallel, queue, maxBodyBytes, chatTemplate, id, shutdownGrace,
                idleTimeout, maxConnections, keepAlive);
    }

    public ServerConfig withIdleTimeout(Duration d) {
        return new ServerConfig(host, port, apiKey, parallel, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace, d,
                maxConnections, keepAlive);
    }

    public ServerConfig withMaxConnections(int n) {
        return new ServerConfig(host, port, apiKey, parallel, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace,
                idleTimeout, n, keepAlive);
    }

    public ServerConfig withKeepAlive(Duration d) {
        return new ServerConfig(host, port, apiKey, parallel, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace,
                idleTimeout, maxConnections, d);
    }

    public ServerConfig withShutdownGrace(Duration d) {
        return new ServerConfig(host, port, apiKey, parallel, queue, maxBodyBytes, chatTemplate, modelId, d, idleTimeout,
                maxConnections, keepAlive);
    }
}
