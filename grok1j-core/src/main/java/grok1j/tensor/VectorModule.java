package grok1j.tensor;

/**
 * The kernels use the incubating Vector API, which the JVM only resolves when started with
 * {@code --add-modules jdk.incubator.vector}. Without it the first kernel class fails to load with a bare
 * {@link NoClassDefFoundError}; the entry points call {@link #require()} first so that a forgotten flag is one clear line.
 */
public final class VectorModule {
    /** The JVM option that makes the Vector API available. */
    public static final String FLAG = "--add-modules jdk.incubator.vector";

    private VectorModule() {}

    /** @return true if {@code jdk.incubator.vector} is in the boot layer */
    public static boolean present() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    /** @throws IllegalStateException naming the missing JVM option if the Vector API module is not resolved */
    public static void require() {
        if (!present()) {
            throw new IllegalStateException("grok1j needs the Vector API: start java with " + FLAG
                    + " (bin/grok1j does; Maven and Gradle need it in their test and run arguments)");
        }
    }
}
