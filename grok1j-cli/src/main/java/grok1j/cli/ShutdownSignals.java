package grok1j.cli;

import sun.misc.Signal;

/**
 * SIGTERM and SIGINT (Ctrl-C) as a request to stop, for {@code serve}: the JVM's default ends the process with status
 * 143 or 130 once its shutdown hooks ran, which tells a supervisor (systemd, Kubernetes, a script) that the server
 * failed. With these handlers the command shuts down gracefully and returns normally (status 0), and on rank 0 of a
 * tensor-parallel job it closes the model first, which ends the other ranks' work before MPI is finalised.
 */
final class ShutdownSignals {
    private ShutdownSignals() {
    }

    /**
     * Calls {@code onSignal} on a thread of its own at each SIGTERM or SIGINT instead of exiting.
     *
     * @return false if the JVM does not let the signals be handled (e.g. started with {@code -Xrs}); the defaults
     *         stay then
     */
    static boolean install(Runnable onSignal) {
        try {
            for (String name : new String[] {"TERM", "INT"}) {
                Signal.handle(new Signal(name), s -> Thread.ofPlatform().name("grok1j-SIG" + name).start(onSignal));
            }
            return true;
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            return false;
        }
    }
}
