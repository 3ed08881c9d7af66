using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Errors;
using ZImageSharp.Options;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// Checks a checkpoint from its JSON configs and safetensors headers alone, before any module is built: building the
/// released text encoder and DiT takes most of a minute and 15 GB of RAM, and until now a file given for the wrong
/// component, or a file of another model, showed only afterwards, when the loader compared it with the built module.
/// Each component's file must hold that component (its identifying tensor is present), and the tensors that fix its
/// widths must have the shapes its config asks for (single files carry no config, so the released one applies); the
/// configs must agree with each other (the text encoder's hidden size is the DiT's cap_feat_dim, the VAE's latent
/// channels its in_channels), and the scheduler config must be usable. Every problem is reported at once, naming the
/// file and the tensor. The loader still checks every tensor afterwards; this checks the ones that tell the model apart.
/// </summary>
public static class CheckpointPreflight
{
    /// <summary>A problem found; <paramref name="File"/> and <paramref name="Tensor"/> are what it is about.</summary>
    public sealed record Problem(string Message, string? File, string? Tensor = null);

    /// <summary>Checks the checkpoint <paramref name="options"/> name; does nothing when it names none.</summary>
    /// <exception cref="CheckpointException">Every problem, in one message.</exception>
    public static void Check(EngineOptions options)
    {
        if (!options.HasWeights) return;
        Check(CheckpointLayout.Resolve(CheckpointPaths.For(options)));
    }

    /// <exception cref="CheckpointException">Every problem, in one message.</exception>
    public static void Check(CheckpointLayout layout)
    {
        var configs = ComponentConfigs.Read(layout);
        var problems = new List<Problem>(ConfigProblems(configs));
        foreach (var component in layout.Components)
        {
            using var source = component.OpenWeights();
            problems.AddRange(FileProblems(component.Component, source, configs));
        }
        // Read here, not after loading, so a broken scheduler config costs no model build either.
        try { SchedulerConfig.ReadShift(layout.SchedulerConfigPath); }
        catch (CheckpointException e) { problems.Add(new(e.Message, e.File, e.Tensor)); }
        if (problems.Count > 0)
            throw new CheckpointException(
                $"The checkpoint cannot be used: {string.Join(" ", problems.Select(p => p.Message))}", problems[0].File, problems[0].Tensor);
    }

    /// <summary>The three configs and where each came from (a file, or the released defaults).</summary>
    public sealed record ComponentConfigs(Qwen3Config TextEncoder, string TextEncoderOrigin,
        ZImageTransformerConfig Transformer, string TransformerOrigin, AutoencoderKLConfig Vae, string VaeOrigin)
    {
        public static ComponentConfigs Read(CheckpointLayout layout) => new(
            layout.TextEncoder.ConfigPath is { } te ? Qwen3Config.FromFile(te) : Qwen3Config.Released,
            Origin(layout.TextEncoder.ConfigPath, "Qwen3-4B text encoder"),
            layout.Transformer.ConfigPath is { } dit ? ZImageTransformerConfig.FromJson(dit) : ZImageTransformerConfig.Released,
            Origin(layout.Transformer.ConfigPath, "Z-Image-Turbo transformer"),
            layout.Vae.ConfigPath is { } vae ? AutoencoderKLConfig.FromFile(vae) : AutoencoderKLConfig.Released,
            Origin(layout.Vae.ConfigPath, "Flux VAE"));

        public static ComponentConfigs Released { get; } = new(Qwen3Config.Released, Origin(null, "Qwen3-4B text encoder"),
            ZImageTransformerConfig.Released, Origin(null, "Z-Image-Turbo transformer"), AutoencoderKLConfig.Released, Origin(null, "Flux VAE"));

        private static string Origin(string? path, string released) =>
            path is null ? $"the released {released} config (a single file carries none)" : $"'{path}'";
    }

    public static IEnumerable<Problem> ConfigProblems(ComponentConfigs c)
    {
        if (c.TextEncoder.HiddenSize != c.Transformer.CapFeatDim)
            yield return new($"The text encoder's hidden_size ({c.TextEncoder.HiddenSize}, {c.TextEncoderOrigin}) differs from the " +
                $"transformer's cap_feat_dim ({c.Transformer.CapFeatDim}, {c.TransformerOrigin}); these do not belong together.", null);
        if (c.Vae.LatentChannels != c.Transformer.InChannels)
            yield return new($"The VAE's latent_channels ({c.Vae.LatentChannels}, {c.VaeOrigin}) differ from the " +
                $"transformer's in_channels ({c.Transformer.InChannels}, {c.TransformerOrigin}); these do not belong together.", null);
    }

    /// <summary>Problems of one component's weights, in diffusers names (a <see cref="KeyMappedSource"/>, or a
    /// manifest in tests), against its config.</summary>
    public static IEnumerable<Problem> FileProblems(ModelComponent component, IWeightSource source, ComponentConfigs configs)
    {
        var raw = source is KeyMappedSource mapped ? mapped.Inner : source;
        string signature = Signature(component);
        if (!source.Contains(signature))
        {
            string holds = Recognise(raw.Names) is { } other && other.Component != component
                ? $"holds {Describe(other.Component)} (it has '{other.Tensor}')"
                : $"holds none of Z-Image's components (its first tensors: {string.Join(", ", raw.Names.Order(StringComparer.Ordinal).Take(3).Select(n => $"'{n}'"))})";
            yield return new($"'{source.Origin}' was given as the {Name(component)} but {holds}, and no '{signature}', which every {Name(component)} has.",
                source.Origin, signature);
            yield break;
        }
        var expectations = component switch
        {
            ModelComponent.TextEncoder => TextEncoderShapes(configs.TextEncoder, configs.Transformer),
            ModelComponent.Transformer => TransformerShapes(configs.Transformer),
            _ => VaeShapes(configs.Vae),
        };
        string origin = component switch
        {
            ModelComponent.TextEncoder => configs.TextEncoderOrigin,
            ModelComponent.Transformer => configs.TransformerOrigin,
            _ => configs.VaeOrigin,
        };
        foreach (var (tensor, shape, meaning) in expectations)
        {
            if (!source.Contains(tensor)) continue;
            long[] actual = source.Describe(tensor).Shape;
            if (!actual.SequenceEqual(shape))
                yield return new($"'{source.Origin}': tensor '{tensor}' has shape {Shape(actual)}, but {origin} needs {Shape(shape)} ({meaning}).",
                    source.Origin, tensor);
        }
        foreach (var (block, needed, setting) in BlockCounts(component, configs))
        {
            int present = source.Names.Select(n => BlockIndex(n, block)).DefaultIfEmpty(-1).Max() + 1;
            if (present != needed.Built && present != needed.Full)
                yield return new($"'{source.Origin}' has {present} '{block}.N' blocks, but {origin} has {setting} = {needed.Full}" +
                    (needed.Built != needed.Full ? $" (Z-Image runs the first {needed.Built})." : "."),
                    source.Origin, $"{block}.{Math.Max(present, needed.Full) - 1}");
        }
    }

    private static string Signature(ModelComponent component) => component switch
    {
        ModelComponent.Transformer => "cap_embedder.1.weight",
        ModelComponent.TextEncoder => "embed_tokens.weight",
        _ => "decoder.conv_in.weight",
    };

    /// <summary>What a file holds, from raw names of any naming scheme (diffusers, ComfyUI, BFL, a model. prefix).</summary>
    private static (ModelComponent Component, string Tensor)? Recognise(IEnumerable<string> names)
    {
        foreach (var name in names.Order(StringComparer.Ordinal))
        {
            if (name.EndsWith("cap_embedder.1.weight", StringComparison.Ordinal) || name.EndsWith("x_pad_token", StringComparison.Ordinal))
                return (ModelComponent.Transformer, name);
            if (name.EndsWith("embed_tokens.weight", StringComparison.Ordinal)) return (ModelComponent.TextEncoder, name);
            if (name.EndsWith("decoder.conv_in.weight", StringComparison.Ordinal)) return (ModelComponent.Vae, name);
        }
        return null;
    }

    private static IEnumerable<(string, long[], string)> TextEncoderShapes(Qwen3Config c, ZImageTransformerConfig dit)
    {
        string hidden = c.HiddenSize == dit.CapFeatDim ? "hidden_size, the transformer's cap_feat_dim" : "hidden_size";
        yield return ("embed_tokens.weight", [c.VocabSize, c.HiddenSize], $"vocab_size × {hidden}");
        yield return ("layers.0.self_attn.q_proj.weight", [(long)c.NumAttentionHeads * c.HeadDim, c.HiddenSize], "num_attention_heads · head_dim × hidden_size");
        yield return ("layers.0.self_attn.k_proj.weight", [(long)c.NumKeyValueHeads * c.HeadDim, c.HiddenSize], "num_key_value_heads · head_dim × hidden_size");
        yield return ("layers.0.mlp.gate_proj.weight", [c.IntermediateSize, c.HiddenSize], "intermediate_size × hidden_size");
    }

    private static IEnumerable<(string, long[], string)> TransformerShapes(ZImageTransformerConfig c)
    {
        yield return ("x_pad_token", [1, c.Dim], "1 × dim");
        yield return ("cap_embedder.1.weight", [c.Dim, c.CapFeatDim], "dim × cap_feat_dim, the text encoder's hidden_size");
        for (int i = 0; i < c.AllPatchSize.Count; i++)
        {
            int p = c.AllPatchSize[i], f = c.AllFPatchSize[i];
            yield return ($"all_x_embedder.{ZImageTransformerConfig.PatchKey(p, f)}.weight", [c.Dim, (long)f * p * p * c.InChannels],
                "dim × f_patch · patch² · in_channels, the VAE's latent channels");
        }
        yield return ("layers.0.attention.to_q.weight", [(long)c.NHeads * c.HeadDim, c.Dim], "n_heads · head_dim × dim");
        yield return ("layers.0.attention.to_k.weight", [(long)c.NKvHeads * c.HeadDim, c.Dim], "n_kv_heads · head_dim × dim");
        yield return ("layers.0.feed_forward.w1.weight", [c.FeedForwardDim, c.Dim], "the feed-forward width (dim · 8/3) × dim");
    }

    private static IEnumerable<(string, long[], string)> VaeShapes(AutoencoderKLConfig c)
    {
        long first = c.BlockOutChannels[0], last = c.BlockOutChannels[^1];
        yield return ("decoder.conv_in.weight", [last, c.LatentChannels, 3, 3], "block_out_channels[-1] × latent_channels × 3 × 3");
        yield return ("decoder.conv_out.weight", [c.OutChannels, first, 3, 3], "out_channels × block_out_channels[0] × 3 × 3");
        yield return ("encoder.conv_in.weight", [first, c.InChannels, 3, 3], "block_out_channels[0] × in_channels × 3 × 3");
        yield return ("encoder.conv_out.weight", [2L * c.LatentChannels, last, 3, 3], "2 · latent_channels × block_out_channels[-1] × 3 × 3");
    }

    /// <summary>Repeated blocks whose count the config fixes: Built is what the engine runs, Full what a complete
    /// checkpoint holds (the text encoder's last layer is never run, so a file with or without it is fine).</summary>
    private static IEnumerable<(string Block, (int Built, int Full) Needed, string Setting)> BlockCounts(ModelComponent component, ComponentConfigs c)
    {
        switch (component)
        {
            case ModelComponent.TextEncoder:
                yield return ("layers", (c.TextEncoder.NumHiddenLayers - 1, c.TextEncoder.NumHiddenLayers), "num_hidden_layers");
                break;
            case ModelComponent.Transformer:
                yield return ("layers", (c.Transformer.NLayers, c.Transformer.NLayers), "n_layers");
                yield return ("noise_refiner", (c.Transformer.NRefinerLayers, c.Transformer.NRefinerLayers), "n_refiner_layers");
                yield return ("context_refiner", (c.Transformer.NRefinerLayers, c.Transformer.NRefinerLayers), "n_refiner_layers");
                break;
            case ModelComponent.Vae:
                yield return ("decoder.up_blocks", (c.Vae.BlockOutChannels.Count, c.Vae.BlockOutChannels.Count), "len(block_out_channels)");
                break;
        }
    }

    /// <summary>N of "block.N.…" in a diffusers name; −1 for other names.</summary>
    private static int BlockIndex(string name, string block)
    {
        if (!name.StartsWith(block + ".", StringComparison.Ordinal)) return -1;
        int start = block.Length + 1, end = name.IndexOf('.', start);
        return int.TryParse(end < 0 ? name.AsSpan(start) : name.AsSpan(start, end - start), out int n) ? n : -1;
    }

    private static string Name(ModelComponent component) => component switch
    {
        ModelComponent.Transformer => "diffusion model (transformer)",
        ModelComponent.TextEncoder => "text encoder",
        _ => "VAE",
    };

    private static string Describe(ModelComponent component) => component switch
    {
        ModelComponent.Transformer => "a Z-Image diffusion model (transformer)",
        ModelComponent.TextEncoder => "a Qwen3 text encoder",
        _ => "a VAE",
    };

    private static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";
}
