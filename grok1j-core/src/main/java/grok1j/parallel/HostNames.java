package grok1j.parallel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** This machine's host name, as error messages name a rank's host. */
final class HostNames {
    private HostNames() {
    }

    /**
     * The kernel's host name (of this UTS namespace), read without a name-service lookup: inside an isolated
     * network namespace a DNS lookup stalls for seconds (distributed.md §3.4.10).
     */
    static String local() {
        try {
            String name = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
            if (!name.isEmpty()) {
                return name;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: fall through
        }
        String env = System.getenv("HOSTNAME");
        return env != null && !env.isBlank() ? env : "localhost";
    }
}
