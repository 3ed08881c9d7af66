using System.Text.Json;
using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Engine.Tests.Pipeline;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Edit;

/// <summary>The tiny transformer and whole VAE of tests/data/reference/pipeline_case0 (the model the diffusers edit
/// fixtures were made with), its prompt features, and the edit inputs of tests/data/edit.</summary>
internal sealed class TinyEditModel : IDisposable
{
    public const string Json = "pipeline_case0.json", Tensors = "pipeline_case0.safetensors";

    private readonly SafetensorsFile fixture;

    public TinyEditModel()
    {
        TestData.RequireReference(Json, Tensors);
        fixture = SafetensorsFile.Open(TestData.Reference(Tensors));
        using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Reference(Json)));
        var root = doc.RootElement;
        Transformer = new ZImageTransformer(ZImageTransformerConfig.Parse(root.GetProperty("dit_config").GetRawText(), $"{Json} dit_config"));
        WeightLoader.LoadInto(Transformer, new PrefixedWeightSource(fixture, "dit."));
        Vae = AutoencoderKL.Create(AutoencoderKLConfig.FromJson(root.GetProperty("vae_config").GetRawText(), $"{Json} vae_config"));
        WeightLoader.LoadInto(Vae, new PrefixedWeightSource(fixture, "vae."));
        Steps = root.GetProperty("steps").GetInt32();
        Shift = root.GetProperty("scheduler").GetProperty("shift").GetDouble();
        Caption = fixture.Read("prompt_embeds.0");
    }

    public ZImageTransformer Transformer { get; }
    public AutoencoderKL Vae { get; }
    public int Steps { get; }
    public double Shift { get; }
    public torch.Tensor Caption { get; }

    public static string EditDir => Path.Combine(AppContext.BaseDirectory, "data", "edit");

    public static EditImage ReadPng(string name) => EditImage.FromPng(File.ReadAllBytes(Path.Combine(EditDir, name)), name);

    public void Dispose()
    {
        Caption.Dispose();
        Transformer.Dispose();
        Vae.Dispose();
        fixture.Dispose();
    }
}
