namespace ZImageSharp.Planning;

/// <summary>The released Z-Image-Turbo configuration as the planner needs it: tensor shapes (to size weights without a
/// checkpoint) and the sequence arithmetic. Numbers from the spec (§2.1 transformer, §3.1 VAE, §4.1 Qwen3).</summary>
internal static class ReleasedModelConfig
{
    // Sequence arithmetic (spec §2.4, §2.5, §8.2).
    public const int VaeScaleFactor = 8;
    public const int PatchSize = 2;
    public const int PixelsPerImageToken = VaeScaleFactor * PatchSize;
    public const int SequenceMultiple = 32;
    public const int MaxCaptionTokens = 512;
    public const int LatentChannels = 16;
    public const int ImageChannels = 3;

    // Transformer (config.json of the transformer folder).
    private const int Dim = 3840, FfnHidden = 10240, AdaLnWidth = 256, CaptionFeatures = 2560;
    private const int HeadDim = 128, TimestepFrequencies = 256, TimestepHidden = 1024;
    private const int MainLayers = 30, NoiseRefinerLayers = 2, ContextRefinerLayers = 2;
    private const int PatchVector = PatchSize * PatchSize * LatentChannels;
    private const int ModulationWidth = 4 * Dim;

    // Qwen3-4B: 36 layers, the last one is not needed (hidden_states[-2]).
    private const int QwenHidden = 2560, QwenIntermediate = 9728, QwenHeads = 32, QwenKvHeads = 8, QwenHeadDim = 128;
    private const int QwenVocabulary = 151936, QwenLayersNeeded = 35;

    // VAE (Flux AE, 16 latent channels).
    private static readonly int[] BlockOutChannels = [128, 256, 512, 512];
    private const int LayersPerBlock = 2;

    public sealed record TensorShape(string Key, long[] Shape);

    public static IEnumerable<TensorShape> TransformerTensors()
    {
        yield return new("x_pad_token", [1, Dim]);
        yield return new("cap_pad_token", [1, Dim]);
        yield return new("all_x_embedder.2-1.weight", [Dim, PatchVector]);
        yield return new("all_x_embedder.2-1.bias", [Dim]);
        yield return new("t_embedder.mlp.0.weight", [TimestepHidden, TimestepFrequencies]);
        yield return new("t_embedder.mlp.0.bias", [TimestepHidden]);
        yield return new("t_embedder.mlp.2.weight", [AdaLnWidth, TimestepHidden]);
        yield return new("t_embedder.mlp.2.bias", [AdaLnWidth]);
        yield return new("cap_embedder.0.weight", [CaptionFeatures]);
        yield return new("cap_embedder.1.weight", [Dim, CaptionFeatures]);
        yield return new("cap_embedder.1.bias", [Dim]);
        for (int i = 0; i < NoiseRefinerLayers; i++)
            foreach (var t in Block($"noise_refiner.{i}", modulated: true)) yield return t;
        for (int i = 0; i < ContextRefinerLayers; i++)
            foreach (var t in Block($"context_refiner.{i}", modulated: false)) yield return t;
        for (int i = 0; i < MainLayers; i++)
            foreach (var t in Block($"layers.{i}", modulated: true)) yield return t;
        yield return new("all_final_layer.2-1.adaLN_modulation.1.weight", [Dim, AdaLnWidth]);
        yield return new("all_final_layer.2-1.adaLN_modulation.1.bias", [Dim]);
        yield return new("all_final_layer.2-1.linear.weight", [PatchVector, Dim]);
        yield return new("all_final_layer.2-1.linear.bias", [PatchVector]);
    }

    private static IEnumerable<TensorShape> Block(string prefix, bool modulated)
    {
        foreach (var projection in new[] { "to_q", "to_k", "to_v", "to_out.0" })
            yield return new($"{prefix}.attention.{projection}.weight", [Dim, Dim]);
        yield return new($"{prefix}.attention.norm_q.weight", [HeadDim]);
        yield return new($"{prefix}.attention.norm_k.weight", [HeadDim]);
        yield return new($"{prefix}.feed_forward.w1.weight", [FfnHidden, Dim]);
        yield return new($"{prefix}.feed_forward.w3.weight", [FfnHidden, Dim]);
        yield return new($"{prefix}.feed_forward.w2.weight", [Dim, FfnHidden]);
        foreach (var norm in new[] { "attention_norm1", "attention_norm2", "ffn_norm1", "ffn_norm2" })
            yield return new($"{prefix}.{norm}.weight", [Dim]);
        if (!modulated) yield break;
        yield return new($"{prefix}.adaLN_modulation.0.weight", [ModulationWidth, AdaLnWidth]);
        yield return new($"{prefix}.adaLN_modulation.0.bias", [ModulationWidth]);
    }

    public static IEnumerable<TensorShape> TextEncoderTensors()
    {
        yield return new("model.embed_tokens.weight", [QwenVocabulary, QwenHidden]);
        const int qWidth = QwenHeads * QwenHeadDim, kvWidth = QwenKvHeads * QwenHeadDim;
        for (int i = 0; i < QwenLayersNeeded; i++)
        {
            string p = $"model.layers.{i}";
            yield return new($"{p}.input_layernorm.weight", [QwenHidden]);
            yield return new($"{p}.self_attn.q_proj.weight", [qWidth, QwenHidden]);
            yield return new($"{p}.self_attn.k_proj.weight", [kvWidth, QwenHidden]);
            yield return new($"{p}.self_attn.v_proj.weight", [kvWidth, QwenHidden]);
            yield return new($"{p}.self_attn.o_proj.weight", [QwenHidden, qWidth]);
            yield return new($"{p}.self_attn.q_norm.weight", [QwenHeadDim]);
            yield return new($"{p}.self_attn.k_norm.weight", [QwenHeadDim]);
            yield return new($"{p}.post_attention_layernorm.weight", [QwenHidden]);
            yield return new($"{p}.mlp.gate_proj.weight", [QwenIntermediate, QwenHidden]);
            yield return new($"{p}.mlp.up_proj.weight", [QwenIntermediate, QwenHidden]);
            yield return new($"{p}.mlp.down_proj.weight", [QwenHidden, QwenIntermediate]);
        }
    }

    public static IEnumerable<TensorShape> VaeTensors()
    {
        int top = BlockOutChannels[^1];
        int bottom = BlockOutChannels[0];

        // Decoder: conv_in, mid block, up blocks over the reversed channels, output head.
        yield return new("decoder.conv_in.weight", [top, LatentChannels, 3, 3]);
        yield return new("decoder.conv_in.bias", [top]);
        foreach (var t in MidBlock("decoder.mid_block", top)) yield return t;
        int channels = top;
        for (int i = 0; i < BlockOutChannels.Length; i++)
        {
            int output = BlockOutChannels[BlockOutChannels.Length - 1 - i];
            for (int r = 0; r < LayersPerBlock + 1; r++)
                foreach (var t in Resnet($"decoder.up_blocks.{i}.resnets.{r}", r == 0 ? channels : output, output)) yield return t;
            if (i < BlockOutChannels.Length - 1)
                foreach (var t in Conv($"decoder.up_blocks.{i}.upsamplers.0.conv", output, output, 3)) yield return t;
            channels = output;
        }
        foreach (var t in Norm("decoder.conv_norm_out", bottom)) yield return t;
        foreach (var t in Conv("decoder.conv_out", ImageChannels, bottom, 3)) yield return t;

        // Encoder: conv_in, down blocks, mid block, moments head (mean and log-variance).
        foreach (var t in Conv("encoder.conv_in", bottom, ImageChannels, 3)) yield return t;
        channels = bottom;
        for (int i = 0; i < BlockOutChannels.Length; i++)
        {
            int output = BlockOutChannels[i];
            for (int r = 0; r < LayersPerBlock; r++)
                foreach (var t in Resnet($"encoder.down_blocks.{i}.resnets.{r}", r == 0 ? channels : output, output)) yield return t;
            if (i < BlockOutChannels.Length - 1)
                foreach (var t in Conv($"encoder.down_blocks.{i}.downsamplers.0.conv", output, output, 3)) yield return t;
            channels = output;
        }
        foreach (var t in MidBlock("encoder.mid_block", top)) yield return t;
        foreach (var t in Norm("encoder.conv_norm_out", top)) yield return t;
        foreach (var t in Conv("encoder.conv_out", 2 * LatentChannels, top, 3)) yield return t;
    }

    private static IEnumerable<TensorShape> Resnet(string prefix, int input, int output)
    {
        foreach (var t in Norm($"{prefix}.norm1", input)) yield return t;
        foreach (var t in Conv($"{prefix}.conv1", output, input, 3)) yield return t;
        foreach (var t in Norm($"{prefix}.norm2", output)) yield return t;
        foreach (var t in Conv($"{prefix}.conv2", output, output, 3)) yield return t;
        if (input != output)
            foreach (var t in Conv($"{prefix}.conv_shortcut", output, input, 1)) yield return t;
    }

    private static IEnumerable<TensorShape> MidBlock(string prefix, int channels)
    {
        foreach (var t in Resnet($"{prefix}.resnets.0", channels, channels)) yield return t;
        foreach (var t in Norm($"{prefix}.attentions.0.group_norm", channels)) yield return t;
        foreach (var projection in new[] { "to_q", "to_k", "to_v", "to_out.0" })
        {
            yield return new($"{prefix}.attentions.0.{projection}.weight", [channels, channels]);
            yield return new($"{prefix}.attentions.0.{projection}.bias", [channels]);
        }
        foreach (var t in Resnet($"{prefix}.resnets.1", channels, channels)) yield return t;
    }

    private static IEnumerable<TensorShape> Conv(string prefix, int output, int input, int kernel)
    {
        yield return new($"{prefix}.weight", [output, input, kernel, kernel]);
        yield return new($"{prefix}.bias", [output]);
    }

    private static IEnumerable<TensorShape> Norm(string prefix, int channels)
    {
        yield return new($"{prefix}.weight", [channels]);
        yield return new($"{prefix}.bias", [channels]);
    }
}
