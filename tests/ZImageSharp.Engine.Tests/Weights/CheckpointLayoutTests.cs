using TorchSharp;
using ZImageSharp.Engine.Weights;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Tests.Weights;

public sealed class CheckpointLayoutTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private void Weights(string relativePath, params string[] names)
    {
        using var t = torch.ones(2);
        SafetensorsWriter.Write(_dir.File(relativePath), names.Select(n => new KeyValuePair<string, torch.Tensor>(n, t)).ToList());
    }

    private void Text(string relativePath, string text = "{}") => File.WriteAllText(_dir.File(relativePath), text);

    /// <summary>The released folder's layout (spec §0): sharded transformer and text encoder, one VAE file.</summary>
    private void OfficialFolder()
    {
        Text("model_index.json");
        Text("transformer/config.json");
        Weights("transformer/diffusion_pytorch_model-00001-of-00002.safetensors", "x_pad_token");
        Weights("transformer/diffusion_pytorch_model-00002-of-00002.safetensors", "cap_pad_token");
        Text("transformer/diffusion_pytorch_model.safetensors.index.json",
            """{"weight_map": {"x_pad_token": "diffusion_pytorch_model-00001-of-00002.safetensors", "cap_pad_token": "diffusion_pytorch_model-00002-of-00002.safetensors"}}""");
        Text("text_encoder/config.json");
        Weights("text_encoder/model-00001-of-00001.safetensors", "model.norm.weight");
        Text("text_encoder/model.safetensors.index.json", """{"weight_map": {"model.norm.weight": "model-00001-of-00001.safetensors"}}""");
        Text("vae/config.json");
        Weights("vae/diffusion_pytorch_model.safetensors", "decoder.conv_in.bias");
        Text("tokenizer/tokenizer.json");
        Text("tokenizer/tokenizer_config.json");
        Text("scheduler/scheduler_config.json");
    }

    [Fact]
    public void RecognisesTheOfficialDiffusersFolder()
    {
        OfficialFolder();
        var layout = CheckpointLayout.Open(_dir.Path);
        Assert.Equal(Path.Combine(_dir.Path, "model_index.json"), layout.ModelIndexPath);
        Assert.Equal(_dir.File("transformer/config.json"), layout.Transformer.ConfigPath);
        Assert.Equal(_dir.File("transformer/diffusion_pytorch_model.safetensors.index.json"), layout.Transformer.WeightsPath);
        Assert.Equal(_dir.File("text_encoder/model.safetensors.index.json"), layout[ModelComponent.TextEncoder].WeightsPath);
        Assert.Equal(_dir.File("vae/diffusion_pytorch_model.safetensors"), layout.Vae.WeightsPath);
        Assert.Equal(_dir.File("vae/config.json"), layout.Vae.ConfigPath);
        Assert.Equal(_dir.File("tokenizer"), layout.TokenizerPath);
        Assert.Equal(_dir.File("scheduler/scheduler_config.json"), layout.SchedulerConfigPath);

        using var transformer = layout.Transformer.OpenWeights();
        Assert.Equal(["cap_pad_token", "x_pad_token"], transformer.Names.Order());
        using var textEncoder = layout.TextEncoder.OpenWeights();
        Assert.Equal(["norm.weight"], textEncoder.Names); // the `model.` prefix is mapped away
        var inventory = CheckpointInventory.Measure(layout);
        Assert.Equal(16, inventory.Transformer.StoredBytes); // two F32 [2] tensors
        Assert.Equal(8, inventory.Vae.Group("decoder").StoredBytes);
    }

    [Fact]
    public void IncompleteFolderNamesEveryMissingFileAndWhatWasExpected()
    {
        OfficialFolder();
        File.Delete(_dir.File("vae/config.json"));
        File.Delete(_dir.File("model_index.json"));
        Directory.Delete(_dir.File("scheduler"), recursive: true);
        var e = Assert.Throws<CheckpointException>(() => CheckpointLayout.Open(_dir.Path));
        Assert.StartsWith($"The checkpoint folder '{_dir.Path}' is incomplete:", e.Message);
        Assert.Contains("'model_index.json' is missing", e.Message);
        Assert.Contains("'vae/config.json' is missing (the AutoencoderKL config)", e.Message);
        Assert.Contains("'scheduler/scheduler_config.json' is missing", e.Message);
        Assert.Equal(_dir.Path, e.File);
    }

    [Fact]
    public void FolderWithoutComponentWeights()
    {
        OfficialFolder();
        File.Delete(_dir.File("vae/diffusion_pytorch_model.safetensors"));
        var e = Assert.Throws<CheckpointException>(() => CheckpointLayout.Open(_dir.Path));
        Assert.Contains("'vae/' has no weights (expected 'vae/diffusion_pytorch_model.safetensors' or a sharded 'vae/diffusion_pytorch_model.safetensors.index.json')", e.Message);
    }

    [Fact]
    public void FolderWithoutComponentFolder()
    {
        OfficialFolder();
        Directory.Delete(_dir.File("text_encoder"), recursive: true);
        var e = Assert.Throws<CheckpointException>(() => CheckpointLayout.Open(_dir.Path));
        Assert.Contains("'text_encoder/config.json' is missing", e.Message);
        Assert.Contains("the folder 'text_encoder/' is missing (expected its config.json and 'text_encoder/model.safetensors'", e.Message);
    }

    [Fact]
    public void FolderWithoutTokenizerFiles()
    {
        OfficialFolder();
        File.Delete(_dir.File("tokenizer/tokenizer.json"));
        var e = Assert.Throws<CheckpointException>(() => CheckpointLayout.Open(_dir.Path));
        Assert.Contains("'tokenizer/' has neither tokenizer.json nor vocab.json with merges.txt", e.Message);
    }

    [Fact]
    public void ShardedIndexWithAMissingShardFailsWhenOpened()
    {
        OfficialFolder();
        File.Delete(_dir.File("transformer/diffusion_pytorch_model-00002-of-00002.safetensors"));
        var layout = CheckpointLayout.Open(_dir.Path);
        var e = Assert.Throws<CheckpointException>(() => layout.Transformer.OpenWeights().Dispose());
        Assert.Contains("names shard 'diffusion_pytorch_model-00002-of-00002.safetensors'", e.Message);
    }

    [Fact]
    public void SingleFilesHaveNoConfigsSoTheReleasedDefaultsApply()
    {
        Weights("z_image_turbo_bf16.safetensors", "model.diffusion_model.x_pad_token");
        Weights("qwen_3_4b.safetensors", "model.norm.weight");
        Weights("ae.safetensors", "decoder.norm_out.bias");
        var layout = CheckpointLayout.Resolve(new CheckpointPaths
        {
            DiffusionModel = _dir.File("z_image_turbo_bf16.safetensors"),
            TextEncoder = _dir.File("qwen_3_4b.safetensors"),
            Vae = _dir.File("ae.safetensors"),
        });
        Assert.Null(layout.Folder);
        Assert.All(layout.Components, c => Assert.Null(c.ConfigPath));
        Assert.Null(layout.TokenizerPath);
        Assert.Null(layout.SchedulerConfigPath);
        using var dit = layout.Transformer.OpenWeights();
        Assert.Equal(["x_pad_token"], dit.Names);
        using var vae = layout.Vae.OpenWeights();
        Assert.Equal(["decoder.conv_norm_out.bias"], vae.Names);
    }

    [Fact]
    public void SingleFilesMustCoverEveryComponent()
    {
        Weights("z_image_turbo_bf16.safetensors", "x_pad_token");
        var e = Assert.Throws<CheckpointException>(() => CheckpointLayout.Resolve(new CheckpointPaths
        {
            DiffusionModel = _dir.File("z_image_turbo_bf16.safetensors"),
            Vae = _dir.File("ae.safetensors"),
        }));
        Assert.Contains("the Vae file '" + _dir.File("ae.safetensors") + "' does not exist", e.Message);
        Assert.Contains("no TextEncoder path was given", e.Message);
    }

    [Fact]
    public void SingleFileReplacesOneComponentOfAFolder()
    {
        OfficialFolder();
        Directory.Delete(_dir.File("transformer"), recursive: true);
        Weights("z_image_turbo_fp8_e4m3fn.safetensors", "model.diffusion_model.x_pad_token");
        var layout = CheckpointLayout.Resolve(new CheckpointPaths { Folder = _dir.Path, DiffusionModel = _dir.File("z_image_turbo_fp8_e4m3fn.safetensors") });
        Assert.Equal(_dir.File("z_image_turbo_fp8_e4m3fn.safetensors"), layout.Transformer.WeightsPath);
        Assert.Null(layout.Transformer.ConfigPath); // the folder's transformer/ is gone, so the released defaults apply
        Assert.Equal(_dir.File("vae/config.json"), layout.Vae.ConfigPath);
    }

    [Fact]
    public void AFileIsNotAFolder()
    {
        Weights("ae.safetensors", "x");
        var e = Assert.Throws<CheckpointException>(() => CheckpointLayout.Open(_dir.File("ae.safetensors")));
        Assert.Contains("is a file, not a checkpoint folder", e.Message);
    }
}
