using System.Text.RegularExpressions;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Weights;

/// <summary>The three weight-bearing parts of Z-Image.</summary>
public enum ModelComponent
{
    Transformer,
    TextEncoder,
    Vae,
}

/// <summary>
/// The only place foreign checkpoint names are translated to the diffusers names our models use (docs/weights.md has
/// the tables): ComfyUI's single-file DiT, a Qwen3 text encoder with or without a <c>model.</c> prefix, and the Flux
/// <c>ae.safetensors</c> VAE in the original BFL naming. Names already in diffusers form pass unchanged, so every
/// source can go through its map. Scaled fp8 weights are dequantized on read (see <see cref="ScaledFp8"/>). A name no rule
/// knows passes through unchanged, so <see cref="WeightLoader"/> reports it as unexpected rather than it being lost.
/// </summary>
public static partial class CheckpointKeyMap
{
    /// <summary>Presents <paramref name="raw"/> in the diffusers names of <paramref name="component"/>; takes ownership of it.</summary>
    public static KeyMappedSource For(ModelComponent component, IWeightSource raw) => component switch
    {
        ModelComponent.Transformer => ForTransformer(raw),
        ModelComponent.TextEncoder => ForTextEncoder(raw),
        ModelComponent.Vae => ForVae(raw),
        _ => throw new ArgumentOutOfRangeException(nameof(component)),
    };

    /// <summary>ComfyUI / original Z-Image DiT names → diffusers <c>ZImageTransformer2DModel</c> names.</summary>
    public static KeyMappedSource ForTransformer(IWeightSource raw) =>
        Build(raw, (name, entry) => TransformerRecipes(raw.Origin, name, entry));

    /// <summary>Qwen3 names with any prefix before <c>embed_tokens</c> (e.g. <c>model.</c>) → names without it; drops <c>lm_head</c>.</summary>
    public static KeyMappedSource ForTextEncoder(IWeightSource raw)
    {
        string prefix = TextEncoderPrefix(raw);
        return Build(raw, (name, entry) => TextEncoderRecipes(prefix, name));
    }

    /// <summary>Flux <c>ae.safetensors</c> (BFL / ldm names) → diffusers <c>AutoencoderKL</c> names.</summary>
    public static KeyMappedSource ForVae(IWeightSource raw)
    {
        // ldm numbers the decoder's up blocks from the lowest resolution, diffusers from the highest: up.N = up_blocks.(count-1-N).
        int upBlocks = raw.Names.Select(n => DecoderUp().Match(n)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value) + 1).DefaultIfEmpty(0).Max();
        return Build(raw, (name, entry) => VaeRecipes(name, entry, upBlocks));
    }

    private delegate IEnumerable<(string Name, TensorRecipe Recipe)> RecipeRule(string name, SafetensorsEntry entry);

    private static KeyMappedSource Build(IWeightSource raw, RecipeRule rule)
    {
        try
        {
            var quantization = ScaledFp8.Find(raw);
            var recipes = new Dictionary<string, TensorRecipe>(StringComparer.Ordinal);
            var madeFrom = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var name in raw.Names.OrderBy(n => n, StringComparer.Ordinal))
            {
                if (quantization.SideTensors.Contains(name)) continue;
                foreach (var (target, recipe) in rule(name, raw.Describe(name)))
                {
                    if (madeFrom.TryGetValue(target, out var other))
                        throw new CheckpointException(
                            $"'{raw.Origin}': tensors '{other}' and '{name}' both map to '{target}' (the file mixes two naming schemes).",
                            raw.Origin, name);
                    madeFrom[target] = name;
                    recipes[target] = quantization.Scales.TryGetValue(name, out var scale) ? recipe with { Scale = scale } : recipe;
                }
            }
            return new KeyMappedSource(raw, recipes);
        }
        catch
        {
            raw.Dispose();
            throw;
        }
    }

    // ---------------------------------------------------------------- transformer

    private const string ComfyDiffusionPrefix = "model.diffusion_model.";

    private static readonly (string From, string To)[] TransformerInfixes =
    [
        (".attention.out.", ".attention.to_out.0."),
        (".attention.q_norm.", ".attention.norm_q."),
        (".attention.k_norm.", ".attention.norm_k."),
    ];

    /// <summary>A transformer tensor name in the ComfyUI / original Z-Image naming → its diffusers name, without
    /// splitting a fused qkv (LoRA files name the same modules: Engine/Lora uses this too).</summary>
    public static string TransformerName(string source)
    {
        string name = source.StartsWith(ComfyDiffusionPrefix, StringComparison.Ordinal) ? source[ComfyDiffusionPrefix.Length..] : source;
        if (name.StartsWith("x_embedder.", StringComparison.Ordinal)) name = "all_x_embedder.2-1." + name["x_embedder.".Length..];
        else if (name.StartsWith("final_layer.", StringComparison.Ordinal)) name = "all_final_layer.2-1." + name["final_layer.".Length..];
        foreach (var (from, to) in TransformerInfixes) name = name.Replace(from, to, StringComparison.Ordinal);
        return name;
    }

    private static IEnumerable<(string, TensorRecipe)> TransformerRecipes(string origin, string source, SafetensorsEntry entry)
    {
        string name = TransformerName(source);
        // The final LayerNorm has no affine parameters in diffusers; some exports still carry an unused weight.
        if (name == "norm_final.weight") yield break;

        if (name.EndsWith(".attention.qkv.weight", StringComparison.Ordinal))
        {
            // Fused [3·D, D] rows are q, k, v in that order (n_kv_heads = n_heads, so three equal parts).
            if (entry.Shape.Length != 2 || entry.Shape[0] % 3 != 0)
                throw new CheckpointException(
                    $"'{origin}': tensor '{source}' has shape [{string.Join(", ", entry.Shape)}]; a fused qkv weight must be [3·D, D].",
                    origin, source);
            string block = name[..^"qkv.weight".Length];
            long part = entry.Shape[0] / 3;
            string[] targets = ["to_q", "to_k", "to_v"];
            for (int i = 0; i < 3; i++)
                yield return ($"{block}{targets[i]}.weight", new TensorRecipe(source) { Rows = (i * part, part) });
            yield break;
        }
        yield return (name, new TensorRecipe(source));
    }

    // ---------------------------------------------------------------- text encoder

    private static string TextEncoderPrefix(IWeightSource raw)
    {
        var prefixes = raw.Names.Where(n => n == "embed_tokens.weight" || n.EndsWith(".embed_tokens.weight", StringComparison.Ordinal))
            .Select(n => n[..^"embed_tokens.weight".Length]).ToList();
        if (prefixes.Count > 1)
            throw new CheckpointException(
                $"'{raw.Origin}' holds {prefixes.Count} token embeddings ({string.Join(", ", prefixes.Select(p => $"'{p}embed_tokens.weight'"))}); " +
                "a text-encoder file must hold one Qwen3 model.", raw.Origin);
        if (prefixes.Count == 1) return prefixes[0];
        // No embedding in this file (a partial export): strip `model.` only if every weight carries it.
        var weights = raw.Names.Where(n => !n.EndsWith("lm_head.weight", StringComparison.Ordinal)).ToList();
        return weights.Count > 0 && weights.All(n => n.StartsWith("model.", StringComparison.Ordinal)) ? "model." : "";
    }

    private static IEnumerable<(string, TensorRecipe)> TextEncoderRecipes(string prefix, string source)
    {
        // Tied embeddings: the LM head is the embedding matrix (or unused), and Z-Image never computes logits.
        if (source == "lm_head.weight" || source == prefix + "lm_head.weight") yield break;
        string name = prefix.Length > 0 && source.StartsWith(prefix, StringComparison.Ordinal) ? source[prefix.Length..] : source;
        yield return (name, new TensorRecipe(source));
    }

    // ---------------------------------------------------------------- VAE

    [GeneratedRegex(@"^decoder\.up\.(\d+)\.")]
    private static partial Regex DecoderUp();

    [GeneratedRegex(@"^(encoder|decoder)\.(?:down|up)\.(\d+)\.(block\.(\d+)|downsample|upsample)\.(.+)$")]
    private static partial Regex LdmSampleBlock();

    [GeneratedRegex(@"^(encoder|decoder)\.mid\.(block_1|block_2|attn_1)\.(.+)$")]
    private static partial Regex LdmMidBlock();

    private static readonly Dictionary<string, string> LdmAttentionParts = new(StringComparer.Ordinal)
    {
        ["norm"] = "group_norm",
        ["q"] = "to_q",
        ["k"] = "to_k",
        ["v"] = "to_v",
        ["proj_out"] = "to_out.0",
    };

    private static IEnumerable<(string, TensorRecipe)> VaeRecipes(string source, SafetensorsEntry entry, int upBlocks)
    {
        string name = source.StartsWith("first_stage_model.", StringComparison.Ordinal) ? source["first_stage_model.".Length..] : source;
        var recipe = new TensorRecipe(source);

        if (LdmSampleBlock().Match(name) is { Success: true } sample)
        {
            string half = sample.Groups[1].Value;
            int index = int.Parse(sample.Groups[2].Value);
            string blockList = half == "encoder" ? "down_blocks" : "up_blocks";
            if (half == "decoder") index = upBlocks - 1 - index;
            string part = sample.Groups[3].Value switch
            {
                "downsample" => "downsamplers.0",
                "upsample" => "upsamplers.0",
                _ => "resnets." + sample.Groups[4].Value,
            };
            yield return ($"{half}.{blockList}.{index}.{part}.{ResnetPart(sample.Groups[5].Value)}", recipe);
            yield break;
        }
        if (LdmMidBlock().Match(name) is { Success: true } mid)
        {
            string half = mid.Groups[1].Value, rest = mid.Groups[3].Value;
            if (mid.Groups[2].Value != "attn_1")
            {
                string resnet = mid.Groups[2].Value == "block_1" ? "resnets.0" : "resnets.1";
                yield return ($"{half}.mid_block.{resnet}.{ResnetPart(rest)}", recipe);
                yield break;
            }
            int dot = rest.IndexOf('.');
            string layer = dot < 0 ? rest : rest[..dot];
            string target = dot > 0 && LdmAttentionParts.TryGetValue(layer, out var mapped) ? mapped + rest[dot..] : rest;
            // ldm's attention projections are 1×1 convolutions [C, C, 1, 1]; diffusers uses linear layers [C, C].
            if (layer != "norm" && entry.Shape is [var outC, var inC, 1, 1]) recipe = recipe with { Shape = [outC, inC] };
            yield return ($"{half}.mid_block.attentions.0.{target}", recipe);
            yield break;
        }
        if (name.StartsWith("encoder.norm_out.", StringComparison.Ordinal) || name.StartsWith("decoder.norm_out.", StringComparison.Ordinal))
        {
            yield return (name.Replace(".norm_out.", ".conv_norm_out.", StringComparison.Ordinal), recipe);
            yield break;
        }
        yield return (name, recipe);
    }

    private static string ResnetPart(string rest) =>
        rest.StartsWith("nin_shortcut.", StringComparison.Ordinal) ? "conv_shortcut." + rest["nin_shortcut.".Length..] : rest;
}
