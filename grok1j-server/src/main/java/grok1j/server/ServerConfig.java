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
 * @param chatTemplate  how chat messages become a prompt
 * @param modelId       the id {@code /v1/models} lists and responses carry
 * @param shutdownGrace how long running requests may continue after {@link OpenAiServer#close()} before they are
 *                      cancelled (default 10 s)
 */
public record ServerConfig(String host, int port, String apiKey, int parallel, int queue, int maxBodyBytes,
                           ChatTemplate chatTemplate, String modelId, Duration shutdownGrace) {

    public ServerConfig {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(chatTemplate, "chatTemplate");
        Objects.requireNonNull(modelId, "modelId");
        Objects.requireNonNull(shutdownGrace, "shutdownGrace");
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
        return new ServerConfig("127.0.0.1", 8000, null, 4, 64, 8 << 20, ChatTemplate.defaults(), "grok-1",
                Duration.ofSeconds(10));
    }

    public ServerConfig withHost(String h) {
        return new ServerConfig(h, port, apiKey, parallel, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace);
    }

    public ServerConfig withPort(int p) {
        return new ServerConfig(host, p, apiKey, parallel, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace);
    }

    public ServerConfig withApiKey(String k) {
        return new ServerConfig(host, port, k, parallel, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace);
    }

    public ServerConfig withParallel(int n) {
        return new ServerConfig(host, port, apiKey, n, queue, maxBodyBytes, chatTemplate, modelId, shutdownGrace);
    }

    public ServerConfig withQueue(int n) {
        return new ServerConfig(host, port, apiKey, parallel, n, maxBodyBytes, chatTemplate, modelId, shutdownGrace);
    }

    public ServerConfig withMaxBodyBytes(int n) {
        return new ServerConfig(host, port, apiKey, parallel, queue, n, chatTemplate, modelId, shutdownGrace);
    }

    public ServerConfig withChatTemplate(ChatTemplate t) {
        return new ServerConfig(host, port, apiKey, parallel, queue, maxBodyBytes, t, modelId, shutdownGrace);
    }

    public ServerConfig withModelId(String id) {
        return new ServerConfig(host, port, apiKey, parallel, queue, maxBodyBytes, chatTemplate, id, shutdownGrace);
    }

    public ServerConfig withShutdownGrace(Duration d) {
        return new ServerConfig(host, port, apiKey, parallel, queue, maxBodyBytes, chatTemplate, modelId, d);
    }
}
