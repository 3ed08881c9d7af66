using TorchSharp;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Weights;
using ZImageSharp.Errors;
using ZImageSharp.Options;
using static ZImageSharp.Engine.Tests.Weights.WeightTestKit;

namespace ZImageSharp.Engine.Tests.Weights;

/// <summary>A checkpoint that cannot work is named from its configs and headers, before any module is built.</summary>
public sealed class CheckpointPreflightTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static ZImageModels Load(string folder) =>
        ModelFactory.FromCheckpoint(new EngineOptions { ModelPath = folder }, torch.CPU, torch.ScalarType.Float32, torch.ScalarType.Float32);

    [Fact]
    public void TheTinyCheckpointLoadsSoItsFilesAreValidOnes()
    {
        CheckpointPreflight.Check(CheckpointLayout.Open(TinyCheckpoint.Folder));
        using var models = Load(TinyCheckpoint.Folder);
        Assert.Equal(3.0, models.Shift);
        Assert.Equal(32, models.TextEncoder.Config.HiddenSize);
    }

    [Fact]
    public void AVaeFileInTheTextEncodersPlaceIsNamedBeforeAnyModuleIsBuilt()
    {
        string folder = TinyCheckpoint.CopyTo(_dir.Path);
        string textEncoder = Path.Combine(folder, "text_encoder", "model.safetensors");
        File.Copy(TinyCheckpoint.VaeFile, textEncoder, overwrite: true);

        var e = Assert.Throws<CheckpointException>(() => Load(folder).Dispose());
        Assert.Equal($"The checkpoint cannot be used: '{textEncoder}' was given as the text encoder but holds a VAE " +
            "(it has 'decoder.conv_in.weight'), and no 'embed_tokens.weight', which every text encoder has.", e.Message);
        Assert.Equal(textEncoder, e.File);
        Assert.Equal("embed_tokens.weight", e.Tensor);
    }

    [Fact]
    public void ComfySingleFilesOfAnotherArchitectureFailFromTheirHeadersAgainstTheReleasedConfig()
    {
        // Single files carry no config: the released one applies, and these toy-width files do not match it.
        var layout = CheckpointLayout.Resolve(new CheckpointPaths
        {
            DiffusionModel = TinyCheckpoint.TransformerFile, TextEncoder = TinyCheckpoint.TextEncoderFile, Vae = TinyCheckpoint.VaeFile,
        });
        var e = Assert.Throws<CheckpointException>(() => CheckpointPreflight.Check(layout));
        Assert.Contains($"'{TinyCheckpoint.TextEncoderFile}': tensor 'embed_tokens.weight' has shape [151936, 32], but the released " +
            "Qwen3-4B text encoder config (a single file carries none) needs [151936, 2560] (vocab_size × hidden_size, the transformer's cap_feat_dim).", e.Message);
        Assert.Contains($"'{TinyCheckpoint.TransformerFile}': tensor 'cap_embedder.1.weight' has shape [64, 32], but the released " +
            "Z-Image-Turbo transformer config (a single file carries none) needs [3840, 2560] (dim × cap_feat_dim, the text encoder's hidden_size).", e.Message);
        Assert.Contains($"'{TinyCheckpoint.TransformerFile}' has 2 'layers.N' blocks, but the released Z-Image-Turbo transformer config " +
            "(a single file carries none) has n_layers = 30.", e.Message);
        Assert.Contains($"'{TinyCheckpoint.VaeFile}': tensor 'decoder.conv_in.weight' has shape [32, 16, 3, 3], but the released Flux VAE " +
            "config (a single file carries none) needs [512, 16, 3, 3]", e.Message);
        Assert.Equal(TinyCheckpoint.TransformerFile, e.File); // the first problem's file and tensor
        Assert.Equal("x_pad_token", e.Tensor);
    }

    [Fact]
    public void SwappedSingleFilesSayWhatEachFileHolds()
    {
        var layout = CheckpointLayout.Resolve(new CheckpointPaths
        {
            DiffusionModel = TinyCheckpoint.TextEncoderFile, TextEncoder = TinyCheckpoint.TransformerFile, Vae = TinyCheckpoint.VaeFile,
        });
        var e = Assert.Throws<CheckpointException>(() => CheckpointPreflight.Check(layout));
        Assert.Contains($"'{TinyCheckpoint.TextEncoderFile}' was given as the diffusion model (transformer) but holds a Qwen3 text encoder " +
            "(it has 'embed_tokens.weight'), and no 'cap_embedder.1.weight'", e.Message);
        Assert.Contains($"'{TinyCheckpoint.TransformerFile}' was given as the text encoder but holds a Z-Image diffusion model (transformer) " +
            "(it has 'cap_embedder.1.weight'), and no 'embed_tokens.weight'", e.Message);
    }

    // ------------------------------------------------------------------ the real models' headers

    private static ManifestSource Manifest(string component, Func<Dictionary<string, long[]>, Dictionary<string, long[]>>? edit = null)
    {
        var manifest = RealManifest(component);
        if (edit is not null) manifest = edit(manifest);
        return new ManifestSource($"{component}.safetensors", manifest.ToDictionary(t => t.Key, t => ("BF16", t.Value)));
    }

    [SkippableFact]
    public void TheReleasedCheckpointPassesInDiffusersAndComfyNames()
    {
        TestData.RequireReference("real_manifests.json");
        var released = CheckpointPreflight.ComponentConfigs.Released;
        Assert.Empty(CheckpointPreflight.ConfigProblems(released));
        Assert.Empty(CheckpointPreflight.FileProblems(ModelComponent.Transformer, Manifest("transformer"), released));
        Assert.Empty(CheckpointPreflight.FileProblems(ModelComponent.TextEncoder, Manifest("text_encoder"), released));
        Assert.Empty(CheckpointPreflight.FileProblems(ModelComponent.Vae, Manifest("vae"), released));

        // ComfyUI's qwen_3_4b.safetensors: a model. prefix and an LM head, through the same key map the loader uses.
        var prefixed = RealManifest("text_encoder").ToDictionary(t => "model." + t.Key, t => ("BF16", t.Value));
        prefixed["lm_head.weight"] = ("BF16", [151936, 2560]);
        using var comfy = CheckpointKeyMap.ForTextEncoder(new ManifestSource("qwen_3_4b.safetensors", prefixed));
        Assert.Empty(CheckpointPreflight.FileProblems(ModelComponent.TextEncoder, comfy, released));
    }

    [SkippableFact]
    public void ATextEncoderOfAnotherSizeIsNamedWithTheTensorAndTheShapes()
    {
        TestData.RequireReference("real_manifests.json");
        // Qwen3-8B's widths (hidden 4096) with 28 layers where Qwen3-4B has 36.
        var wider = Manifest("text_encoder", m =>
        {
            m["embed_tokens.weight"] = [151936, 4096];
            foreach (var key in m.Keys.Where(k => k.StartsWith("layers.") && int.Parse(k.Split('.')[1]) >= 28).ToList()) m.Remove(key);
            return m;
        });
        var problems = CheckpointPreflight.FileProblems(ModelComponent.TextEncoder, wider, CheckpointPreflight.ComponentConfigs.Released).ToList();
        Assert.Equal(2, problems.Count);
        Assert.Equal("'text_encoder.safetensors': tensor 'embed_tokens.weight' has shape [151936, 4096], but the released Qwen3-4B text " +
            "encoder config (a single file carries none) needs [151936, 2560] (vocab_size × hidden_size, the transformer's cap_feat_dim).", problems[0].Message);
        Assert.Equal("embed_tokens.weight", problems[0].Tensor);
        Assert.Equal("'text_encoder.safetensors' has 28 'layers.N' blocks, but the released Qwen3-4B text encoder config (a single file " +
            "carries none) has num_hidden_layers = 36 (Z-Image runs the first 35).", problems[1].Message);
    }

    [Fact]
    public void ConfigsThatDoNotBelongTogetherAreNamed()
    {
        var configs = CheckpointPreflight.ComponentConfigs.Released with
        {
            TextEncoder = Qwen3Config.Released with { HiddenSize = 4096 }, TextEncoderOrigin = "'te/config.json'",
            Transformer = ZImageTransformerConfig.Released with { InChannels = 4 },
        };
        var problems = CheckpointPreflight.ConfigProblems(configs).Select(p => p.Message).ToList();
        Assert.Equal(2, problems.Count);
        Assert.StartsWith("The text encoder's hidden_size (4096, 'te/config.json') differs from the transformer's cap_feat_dim (2560, the released", problems[0]);
        Assert.StartsWith("The VAE's latent_channels (16, the released Flux VAE config (a single file carries none)) differ from the transformer's in_channels (4,", problems[1]);
    }

    // ------------------------------------------------------------------ scheduler_config.json

    [Theory]
    [InlineData("""{"shift": 0}""", "\"shift\" is 0; the flow-matching shift must be a number above 0 (Z-Image-Turbo's is 3.0).")]
    [InlineData("""{"shift": -2.5}""", "\"shift\" is -2.5; the flow-matching shift must be a number above 0")]
    [InlineData("""{"shift": 1e999}""", "\"shift\" is Infinity; the flow-matching shift must be a number above 0")]
    [InlineData("""{"shift": "three"}""", "\"shift\" must be a number, but it is \"three\".")]
    [InlineData("""{"shift": 3.0,""", "is not valid JSON")]
    [InlineData("""[3.0]""", "must hold a JSON object.")]
    public void ABrokenSchedulerConfigIsACheckpointErrorNamingTheFile(string json, string message)
    {
        string path = _dir.File("scheduler/scheduler_config.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<CheckpointException>(() => SchedulerConfig.ReadShift(path));
        Assert.StartsWith($"'{path}'", e.Message);
        Assert.Contains(message, e.Message);
        Assert.Equal(path, e.File);
    }

    [Theory]
    [InlineData("""{"shift": 3.0, "use_dynamic_shifting": false}""", 3.0)]
    [InlineData("""{"num_train_timesteps": 1000}""", 1.0)]
    public void AUsableSchedulerConfigGivesItsShift(string json, double shift)
    {
        string path = _dir.File("scheduler_config.json");
        File.WriteAllText(path, json);
        Assert.Equal(shift, SchedulerConfig.ReadShift(path));
        Assert.Equal(3.0, SchedulerConfig.ReadShift(null));
    }

    [Theory]
    [InlineData("""{"shift": 0}""")]
    [InlineData("""{"shift": 3.0""")]
    public void ABrokenSchedulerConfigFailsTheLoadBeforeAnyModuleIsBuilt(string json)
    {
        string folder = TinyCheckpoint.CopyTo(_dir.Path);
        string path = Path.Combine(folder, "scheduler", "scheduler_config.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<CheckpointException>(() => Load(folder).Dispose());
        Assert.StartsWith($"The checkpoint cannot be used: '{path}'", e.Message);
        Assert.Equal(path, e.File);
    }
}
