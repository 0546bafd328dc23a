package grok1j.bench;

import org.openjdk.jmh.annotations.Fork;

/**
 * {@link InterleavedMatvecBench} with the kernels forced to 256-bit vectors ({@code -Dgrok1j.kernel.lanes=8}): the
 * code an AVX2-only machine runs, measured on this one.
 */
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g", "-Dgrok1j.kernel.lanes=8"})
public class InterleavedMatvecBench256 extends InterleavedMatvecBench {
}
