using TorchSharp;
using ZImageSharp.Engine.Weights;
using ZImageSharp.Errors;
using static ZImageSharp.Engine.Tests.Weights.WeightTestKit;

namespace ZImageSharp.Engine.Tests.Weights;

public sealed class CheckpointKeyMapTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    // ------------------------------------------------------------------ DiT

    /// <summary>A ComfyUI-named copy of the diffusers DiT fixture: prefix, renames, fused qkv, and an unused norm_final.</summary>
    private static List<KeyValuePair<string, torch.Tensor>> ComfyTransformer(Dictionary<string, torch.Tensor> diffusers)
    {
        var comfy = new List<KeyValuePair<string, torch.Tensor>>();
        foreach (var group in diffusers.GroupBy(t => ForeignNames.ComfyTransformer(t.Key)))
        {
            var parts = group.OrderBy(t => t.Key.EndsWith("to_q.weight") ? 0 : t.Key.EndsWith("to_k.weight") ? 1 : 2).Select(t => t.Value).ToArray();
            comfy.Add(new(group.Key, parts.Length == 1 ? parts[0] : torch.cat(parts, 0))); // [3·D, D] = q, k, v
        }
        comfy.Add(new(ForeignNames.ComfyPrefix + "norm_final.weight", torch.ones(diffusers["x_pad_token"].shape[1])));
        return comfy;
    }

    [SkippableFact]
    public void ComfyTransformerLoadsAsTheDiffusersOriginal()
    {
        TestData.RequireReference("dit_weights.safetensors");
        using var original = SafetensorsFile.Open(TestData.Reference("dit_weights.safetensors"));
        var expected = ReadAll(original);
        var comfy = ComfyTransformer(expected);
        Assert.Contains(comfy, t => t.Key == "model.diffusion_model.layers.0.attention.qkv.weight" && t.Value.shape.SequenceEqual(new long[] { 96, 32 }));
        string path = _dir.File("z_image_turbo_bf16.safetensors");
        SafetensorsWriter.Write(path, comfy);

        using var mapped = CheckpointKeyMap.ForTransformer(SafetensorsFile.Open(path));
        Assert.Equal(expected.Keys.Order(), mapped.Names.Order());
        foreach (var (name, tensor) in expected)
        {
            Assert.Equal(tensor.shape, mapped.Describe(name).Shape);
            using var read = mapped.Read(name);
            AssertSameTensor(tensor, read, name);
        }
    }

    [Fact]
    public void DiffusersTransformerNamesPassUnchanged()
    {
        string path = _dir.File("diffusers.safetensors");
        using var a = torch.ones(4, 4);
        SafetensorsWriter.Write(path, [new("all_x_embedder.2-1.weight", a), new("layers.0.attention.to_out.0.weight", a)]);
        using var mapped = CheckpointKeyMap.ForTransformer(SafetensorsFile.Open(path));
        Assert.Equal(["all_x_embedder.2-1.weight", "layers.0.attention.to_out.0.weight"], mapped.Names.Order());
    }

    [Fact]
    public void PlainFp8WeightsStayFp8()
    {
        string path = _dir.File("z_image_turbo_fp8_e4m3fn.safetensors");
        using var qkv = (torch.arange(0, 24, torch.ScalarType.Float32).reshape(6, 4) % 5).to(SafetensorsDType.Float8E4M3);
        SafetensorsWriter.Write(path, [new("model.diffusion_model.layers.0.attention.qkv.weight", qkv)]);
        using var mapped = CheckpointKeyMap.ForTransformer(SafetensorsFile.Open(path));
        Assert.Equal("F8_E4M3", mapped.Describe("layers.0.attention.to_k.weight").DType);
        using var k = mapped.Read("layers.0.attention.to_k.weight");
        Assert.Equal(SafetensorsDType.Float8E4M3, k.dtype);
        using var expected = qkv.narrow(0, 2, 2);
        AssertSameTensor(expected, k, "to_k");
    }

    /// <summary>Quantizes like ComfyUI's scaled fp8: stored = fp8(w / s), s = absmax / 448; the value is stored × s.</summary>
    private static (torch.Tensor Stored, torch.Tensor Scale) ScaledFp8(torch.Tensor weight)
    {
        var scale = (weight.abs().max() / 448f).to(torch.ScalarType.Float32);
        return ((weight / scale).to(SafetensorsDType.Float8E4M3), scale);
    }

    [SkippableTheory]
    [InlineData(".scale_weight", false)] // older files: a `scaled_fp8` marker tensor
    [InlineData(".weight_scale", true)]  // newer files: a `comfy_quant` descriptor per layer
    public void ScaledFp8WeightsAreDequantizedWithTheirScale(string scaleSuffix, bool comfyQuant)
    {
        TestData.RequireReference("dit_weights.safetensors");
        using var original = SafetensorsFile.Open(TestData.Reference("dit_weights.safetensors"));
        var diffusers = ReadAll(original);
        var comfy = new List<KeyValuePair<string, torch.Tensor>>();
        var expected = new Dictionary<string, torch.Tensor>(diffusers);
        foreach (var (name, tensor) in ComfyTransformer(diffusers))
        {
            if (!name.EndsWith(".attention.qkv.weight") && !name.EndsWith(".attention.out.weight"))
            {
                comfy.Add(new(name, tensor));
                continue;
            }
            var (stored, scale) = ScaledFp8(tensor);
            string layer = name[..^".weight".Length];
            comfy.Add(new(name, stored));
            comfy.Add(new(layer + scaleSuffix, scale));
            comfy.Add(new(layer + (comfyQuant ? ".input_scale" : ".scale_input"), torch.tensor(1f)));
            if (comfyQuant) comfy.Add(new(layer + ".comfy_quant", torch.tensor("{\"format\": \"float8_e4m3fn\"}"u8.ToArray())));
            using var dequantized = (stored.to(torch.ScalarType.Float32) * scale).to(torch.ScalarType.BFloat16);
            string diffusersLayer = layer[ForeignNames.ComfyPrefix.Length..];
            if (name.EndsWith(".out.weight"))
                expected[diffusersLayer.Replace(".attention.out", ".attention.to_out.0") + ".weight"] = dequantized.clone();
            else
                for (int i = 0; i < 3; i++)
                    expected[diffusersLayer.Replace(".qkv", new[] { ".to_q", ".to_k", ".to_v" }[i]) + ".weight"] =
                        dequantized.narrow(0, i * dequantized.shape[0] / 3, dequantized.shape[0] / 3).clone();
        }
        if (!comfyQuant) comfy.Add(new("scaled_fp8", torch.empty(0, SafetensorsDType.Float8E4M3)));
        string path = _dir.File("z_image_turbo_fp8_scaled.safetensors");
        SafetensorsWriter.Write(path, comfy);

        using var mapped = CheckpointKeyMap.ForTransformer(SafetensorsFile.Open(path));
        Assert.Equal(diffusers.Keys.Order(), mapped.Names.Order()); // scales, input scales and markers are consumed
        Assert.Equal("BF16", mapped.Describe("layers.1.attention.to_v.weight").DType);
        foreach (var (name, tensor) in expected)
        {
            using var read = mapped.Read(name);
            AssertSameTensor(tensor, read, name);
        }
        // And the dequantized weight is the original up to fp8 precision (3 mantissa bits: ≤ 1/16 relative per element).
        using var q = mapped.Read("layers.0.attention.to_q.weight");
        var reference = diffusers["layers.0.attention.to_q.weight"];
        double relative = ((q.to(torch.ScalarType.Float32) - reference).norm() / reference.norm()).item<float>();
        Assert.InRange(relative, 1e-4, 0.07);
    }

    [Fact]
    public void BlockScaledQuantizationIsRejected()
    {
        string path = _dir.File("nvfp4.safetensors");
        using var w = torch.zeros(4, 4, torch.ScalarType.Byte);
        using var conf = torch.tensor("{\"format\": \"nvfp4\"}"u8.ToArray());
        using var s = torch.ones(1);
        SafetensorsWriter.Write(path, [new("layers.0.attention.out.weight", w), new("layers.0.attention.out.comfy_quant", conf),
            new("layers.0.attention.out.weight_scale", s)]);
        var e = Assert.Throws<CheckpointException>(() => CheckpointKeyMap.ForTransformer(SafetensorsFile.Open(path)).Dispose());
        Assert.Contains("'layers.0.attention.out.comfy_quant' declares quantization format(s) 'nvfp4', which this engine does not read", e.Message);
        Assert.Equal(path, e.File);
    }

    [Fact]
    public void FileMixingTwoNamingSchemesIsRejected()
    {
        string path = _dir.File("mixed.safetensors");
        using var a = torch.ones(4, 4);
        SafetensorsWriter.Write(path, [new("x_embedder.weight", a), new("all_x_embedder.2-1.weight", a)]);
        var e = Assert.Throws<CheckpointException>(() => CheckpointKeyMap.ForTransformer(SafetensorsFile.Open(path)).Dispose());
        Assert.Contains("tensors 'all_x_embedder.2-1.weight' and 'x_embedder.weight' both map to 'all_x_embedder.2-1.weight'", e.Message);
    }

    // ------------------------------------------------------------------ text encoder

    [SkippableTheory]
    [InlineData("model.", true)]
    [InlineData("model.", false)]
    [InlineData("", true)]
    public void Qwen3WithOrWithoutPrefixLoadsAsTheOriginal(string prefix, bool withLmHead)
    {
        TestData.RequireReference("qwen3_weights.safetensors");
        using var original = SafetensorsFile.Open(TestData.Reference("qwen3_weights.safetensors"));
        var expected = ReadAll(original);
        var foreign = expected.Select(t => new KeyValuePair<string, torch.Tensor>(prefix + t.Key, t.Value)).ToList();
        if (withLmHead) foreign.Add(new("lm_head.weight", expected["embed_tokens.weight"]));
        string path = _dir.File("qwen_3_4b.safetensors");
        SafetensorsWriter.Write(path, foreign);

        using var mapped = CheckpointKeyMap.ForTextEncoder(SafetensorsFile.Open(path));
        Assert.Equal(expected.Keys.Order(), mapped.Names.Order());
        foreach (var (name, tensor) in expected)
        {
            using var read = mapped.Read(name);
            AssertSameTensor(tensor, read, name);
        }
    }

    // ------------------------------------------------------------------ VAE

    [SkippableFact]
    public void FluxAeInBflNamesLoadsAsTheDiffusersOriginal()
    {
        TestData.RequireReference("vae_weights.safetensors");
        using var original = SafetensorsFile.Open(TestData.Reference("vae_weights.safetensors"));
        var expected = ReadAll(original);
        int upBlocks = expected.Keys.Where(k => k.StartsWith("decoder.up_blocks.")).Select(k => int.Parse(k.Split('.')[2]) + 1).Max();
        var bfl = expected.Select(t =>
        {
            string name = ForeignNames.BflVae(t.Key, upBlocks);
            return new KeyValuePair<string, torch.Tensor>(name, ForeignNames.IsBflConvAttention(name) ? t.Value.reshape(t.Value.shape[0], t.Value.shape[1], 1, 1) : t.Value);
        }).ToList();
        Assert.Contains(bfl, t => t.Key == "decoder.up.0.block.0.nin_shortcut.weight"); // diffusers up_blocks.1 (64 → 32 channels)
        Assert.Contains(bfl, t => t.Key == "encoder.mid.attn_1.q.weight" && t.Value.dim() == 4);
        string path = _dir.File("ae.safetensors");
        SafetensorsWriter.Write(path, bfl);

        using var mapped = CheckpointKeyMap.ForVae(SafetensorsFile.Open(path));
        Assert.Equal(expected.Keys.Order(), mapped.Names.Order());
        foreach (var (name, tensor) in expected)
        {
            using var read = mapped.Read(name);
            AssertSameTensor(tensor, read, name);
        }
    }

    // ------------------------------------------------------------------ the real models' names

    private static void AssertMapsOntoManifest(Dictionary<string, long[]> manifest, KeyMappedSource mapped)
    {
        var extra = mapped.Names.Except(manifest.Keys).Order().ToList();
        var absent = manifest.Keys.Except(mapped.Names).Order().ToList();
        Assert.True(extra.Count == 0 && absent.Count == 0,
            $"unexpected: {string.Join(", ", extra.Take(10))}; missing: {string.Join(", ", absent.Take(10))}");
        foreach (var (name, shape) in manifest)
            Assert.True(shape.SequenceEqual(mapped.Describe(name).Shape), $"{name}: [{string.Join(", ", mapped.Describe(name).Shape)}]");
    }

    [SkippableFact]
    public void RealTransformerNamesRoundTripThroughComfyNaming()
    {
        TestData.RequireReference("real_manifests.json");
        var manifest = RealManifest("transformer");
        var comfy = new Dictionary<string, (string, long[])>();
        foreach (var (name, shape) in manifest)
        {
            string foreign = ForeignNames.ComfyTransformer(name);
            comfy[foreign] = comfy.TryGetValue(foreign, out var fused) ? ("BF16", [fused.Item2[0] + shape[0], shape[1]]) : ("BF16", shape);
        }
        comfy[ForeignNames.ComfyPrefix + "norm_final.weight"] = ("BF16", [3840]);
        Assert.Equal([11520, 3840], comfy["model.diffusion_model.layers.29.attention.qkv.weight"].Item2);
        Assert.Equal(521 - 34 * 2 + 1, comfy.Count); // 34 blocks fuse three tensors into one; plus norm_final

        using var mapped = CheckpointKeyMap.ForTransformer(new ManifestSource("z_image_turbo_bf16.safetensors", comfy));
        Assert.Equal(521, mapped.Names.Count);
        AssertMapsOntoManifest(manifest, mapped);
    }

    [SkippableFact]
    public void RealTextEncoderNamesRoundTripThroughThePrefix()
    {
        TestData.RequireReference("real_manifests.json");
        var manifest = RealManifest("text_encoder");
        var prefixed = manifest.ToDictionary(t => "model." + t.Key, t => ("BF16", t.Value));
        prefixed["lm_head.weight"] = ("BF16", manifest["embed_tokens.weight"]);
        using var mapped = CheckpointKeyMap.ForTextEncoder(new ManifestSource("qwen_3_4b.safetensors", prefixed));
        Assert.Equal(398, mapped.Names.Count);
        AssertMapsOntoManifest(manifest, mapped);
    }

    [SkippableFact]
    public void RealVaeNamesRoundTripThroughBflNaming()
    {
        TestData.RequireReference("real_manifests.json");
        var manifest = RealManifest("vae");
        var bfl = manifest.ToDictionary(t => ForeignNames.BflVae(t.Key, 4), t => ("BF16", t.Value));
        foreach (var name in bfl.Keys.Where(ForeignNames.IsBflConvAttention).ToList())
            bfl[name] = ("BF16", [.. bfl[name].Item2, 1, 1]);
        Assert.Equal([512, 512, 1, 1], bfl["decoder.mid.attn_1.proj_out.weight"].Item2);
        Assert.Equal([256, 512, 1, 1], bfl["decoder.up.1.block.0.nin_shortcut.weight"].Item2); // diffusers up_blocks.2
        using var mapped = CheckpointKeyMap.ForVae(new ManifestSource("ae.safetensors", bfl));
        Assert.Equal(244, mapped.Names.Count);
        AssertMapsOntoManifest(manifest, mapped);
    }
}
