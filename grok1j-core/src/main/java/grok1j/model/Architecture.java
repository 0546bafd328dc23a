package grok1j.model;

/**
 * What one member of the Grok family does differently in the shared {@link Transformer}: switches and constants,
 * nothing else. The blocks themselves (attention with RoPE and soft-cap, router and top-k experts, norms,
 * unembedding) exist once, in {@link Transformer}; {@link #grok1()} and {@link #grok2} state each model's deltas as
 * its spec does.
 *
 * @param name                 for logs and {@code inspect} ("grok-1", "grok-2")
 * @param bf16Multipliers      the embedding and output multipliers are applied bf16-rounded (Grok-1's JAX weak-type
 *                             rule, grok-1 spec §3.1); otherwise as float32 (grok-2 spec §2.6: 90.50966644, not 90.5)
 * @param erfGelu              experts and dense MLP use the exact erf GELU (grok-2 spec §2.4); otherwise the tanh
 *                             approximation (grok-1 spec §3.8)
 * @param padKeyMask           keys holding the padding id are masked out of attention (grok-1 spec §3.6); Grok-2
 *                             masks only the future (grok-2 spec §2.2)
 * @param routerSoftcap        {@code c} of {@code c*tanh(r/c)} on the router logits before the softmax, experts ranked
 *                             by the capped logit; 0 = none (grok-2 spec §2.3: 30)
 * @param attnTemperatureLength L: an attention row at 0-based position {@code p > L} has its capped logits multiplied
 *                             by {@code log2(p) * (1/log2(L))} (grok-2 spec §2.2); 0 or less = off
 * @param finalSoftcap         {@code c} of {@code c*tanh(z/c)} on the logits after the output multiplier; 0 = none
 *                             (grok-2 spec §2.5: 50)
 * @param denseFfn             width of the residual dense MLP that runs beside the experts, the layer's FFN output
 *                             being {@code (dense + moe) / sqrt(2)} (grok-2 spec §2.5, {@code residual_moe}); 0 = none
 */
public record Architecture(String name, boolean bf16Multipliers, boolean erfGelu, boolean padKeyMask,
                           double routerSoftcap, double attnTemperatureLength, double finalSoftcap, int denseFfn) {

    public Architecture {
        if (!(routerSoftcap >= 0) || !(finalSoftcap >= 0) || denseFfn < 0 || Double.isNaN(attnTemperatureLength)) {
            throw new IllegalArgumentException("architecture " + name + ": caps and dense FFN width must be >= 0");
        }
    }

    private static final Architecture GROK1 = new Architecture("grok-1", true, false, true, 0, 0, 0, 0);

    /** Grok-1 (grok-1 spec §3): bf16 multipliers, tanh GELU, padding keys masked, no router or final cap. */
    public static Architecture grok1() {
        return GROK1;
    }

    /**
     * Grok-2 as SGLang runs it (grok-2 spec §2): float32 multipliers, erf GELU, no padding mask, router cap 30,
     * attention temperature past {@code temperatureLength}, final cap, and the residual dense MLP.
     *
     * @param temperatureLength {@code attn_temperature_len} (1024; -1 = off)
     * @param finalSoftcap      {@code final_logit_softcapping} (50; 0 = off)
     * @param denseFfn          {@code intermediate_size} when {@code residual_moe} (32768), else 0
     */
    public static Architecture grok2(double temperatureLength, double finalSoftcap, int denseFfn) {
        return new Architecture("grok-2", false, true, false, 30, temperatureLength, Math.max(0, finalSoftcap), denseFfn);
    }

    /** True if the layers carry a dense MLP beside the experts. */
    public boolean residualDenseMlp() {
        return denseFfn > 0;
    }
}
