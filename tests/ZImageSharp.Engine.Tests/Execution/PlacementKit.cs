using TorchSharp;
using ZImageSharp.Engine.Execution;
using ZImageSharp.Engine.Models;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Engine.Tests.Transformer;
using ZImageSharp.Engine.Tests.Vae;
using ZImageSharp.Engine.Weights;
using ZImageSharp.Planning;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Execution;

/// <summary>The reference models and inputs, and placements as the planner would write them.</summary>
internal static class PlacementKit
{
    /// <summary>The CPU acting as a separate device: every load and prefetch is a real copy, float32 compute.</summary>
    public static PlacerOptions SimulatedDevice => new(CPU) { ComputeDType = ScalarType.Float32, SimulateDevice = true };

    public static void RequireFixtures() => TestData.RequireReference(
        "dit_weights.json", "dit_weights.safetensors", "dit_case1.safetensors",
        "qwen3_weights.json", "qwen3_weights.safetensors", "qwen3_case0.safetensors",
        "vae_weights.json", "vae_weights.safetensors", "vae_case0.safetensors");

    public static ZImageTransformer LoadTransformer() => ZImageTransformerParityTests.LoadReferenceModel();

    public static Qwen3Model LoadTextEncoder()
    {
        var config = Qwen3Config.FromJson(File.ReadAllText(TestData.Reference("qwen3_weights.json")), "qwen3_weights.json");
        var model = Qwen3Model.CreateForZImage(config);
        using var source = SafetensorsFile.Open(TestData.Reference("qwen3_weights.safetensors"));
        WeightLoader.LoadInto(model, source, model.IsUnbuiltCheckpointKey);
        return model;
    }

    public static AutoencoderKL LoadVae() => AutoencoderKLParityTests.Load(AutoencoderParts.DecoderOnly);

    /// <summary>dit_case1: two samples of different sizes and caption lengths.</summary>
    public sealed class DitInputs : IDisposable
    {
        private readonly SafetensorsFile _file = SafetensorsFile.Open(TestData.Reference("dit_case1.safetensors"));

        public DitInputs()
        {
            Latents = [_file.Read("x.0"), _file.Read("x.1")];
            Captions = [_file.Read("cap.0"), _file.Read("cap.1")];
            Timesteps = _file.Read("t");
        }

        public Tensor[] Latents { get; }
        public Tensor[] Captions { get; }
        public Tensor Timesteps { get; }

        /// <summary>Both outputs flattened into one tensor, so one relative error covers the batch.</summary>
        public Tensor Run(ZImageTransformer model)
        {
            using var scope = NewDisposeScope();
            var outputs = model.forward(Latents, Timesteps, Captions);
            return cat(outputs.Select(o => o.flatten()).ToArray(), 0).MoveToOuterDisposeScope();
        }

        public void Dispose()
        {
            foreach (var t in Latents.Concat(Captions).Append(Timesteps)) t.Dispose();
            _file.Dispose();
        }
    }

    /// <summary>The first prompt's real tokens of qwen3_case0.</summary>
    public static Tensor PromptIds()
    {
        using var ids = ModelTestKit.ReadTensor("qwen3_case0.safetensors", "input_ids");
        using var row = ids[0];
        return row.narrow(0, 0, 9).clone();
    }

    public static Tensor VaeLatent() => ModelTestKit.ReadTensor("vae_case0.safetensors", "z");

    public static ComponentPlacement DitAt(Placement placement, bool staysLoaded, params string[] residentBlocks) =>
        new(Component.Transformer, placement, staysLoaded, residentBlocks, 4, 0);

    public static ComponentPlacement TeAt(Placement placement, bool staysLoaded, params string[] residentBlocks) =>
        new(Component.TextEncoder, placement, staysLoaded, residentBlocks, 2, 0);

    public static VaePlacement VaeAt(bool staysLoaded = true, bool float32 = false) =>
        new(VaeDecodeMode.Full, null, 0, 1, staysLoaded, float32, 0);

    /// <summary>Rounds the weights fp8 storage applies to through fp8 e4m3 and back: what an fp8 placement computes with.</summary>
    public static void RoundFp8EligibleWeights(nn.Module module, Component component)
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            if (!ModelMemoryDescription.StoresAsFp8(component, name, p.shape.Length)) continue;
            using var fp8 = p.to(SafetensorsDType.Float8E4M3);
            using var back = fp8.to(p.dtype);
            p.copy_(back);
        }
    }

    public static int Fp8EligibleCount(nn.Module module, Component component) =>
        module.named_parameters().Count(p => ModelMemoryDescription.StoresAsFp8(component, p.name, p.parameter.shape.Length));

    /// <summary>True when every parameter of the module holds no memory (released).</summary>
    public static bool AllEmpty(nn.Module module) => module.parameters().All(p => p.numel() == 0);
}
