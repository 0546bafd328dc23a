package grok1j.bench;

import org.openjdk.jmh.annotations.Fork;

/** {@link GgufGemmBench} with {@code -XX:UseAVX=2}: the AVX2 kernels and probe (16 vector registers) on an AVX-512 machine. */
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g", "-XX:UseAVX=2"})
public class GgufGemmAvx2Bench extends GgufGemmBench {
}
