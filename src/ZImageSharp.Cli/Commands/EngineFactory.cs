using ZImageSharp.Contracts;
using ZImageSharp.Engine;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Options;
using ZImageSharp.Planning;

namespace ZImageSharp.Cli.Commands;

/// <summary>The one place the CLI turns its flags into an engine.</summary>
internal static class EngineFactory
{
    public static EngineOptions Options(EngineSettings s, bool randomRealWeights = false) => new()
    {
        ModelPath = s.Model,
        DiffusionModelPath = s.DiffusionModel,
        TextEncoderPath = s.TextEncoder,
        VaePath = s.Vae,
        Device = s.Device,
        LibTorchPath = s.LibTorch,
        VramBudget = s.ParsedVramBudget,
        RamBudget = s.ParsedRamBudget,
        AllowFp8 = !s.NoFp8,
        ComputeDType = s.DType,
        RandomRealWeights = randomRealWeights || s.RandomWeights,
        SpeedProfilePath = s.SpeedProfile,
        LoraFolder = s.LoraDir,
        Preset = s.Preset,
    };

    /// <summary>An engine on the given device (zimage serve --devices makes one per entry).</summary>
    public static ZImageEngine Create(EngineSettings s, string device) =>
        ZImageEngine.Create(Options(s) with { Device = device }, s.InjectOom is { } spec ? OutOfMemoryInjector.Parse(spec) : null);

    /// <summary>An engine that reads no weights and only plans (an API-only node: zimage serve --devices none).</summary>
    public static ZImageEngine CreatePlanOnly(EngineSettings s) => ZImageEngine.Create(Options(s) with { Device = "cpu", PlanOnly = true });

    /// <param name="firstRequest">What the weights are first placed for (generate knows its request).</param>
    /// <param name="speed">Speeds to plan with instead of the chosen profile (bench --calibrate, which is about to
    /// replace this card's profile and must run even when the old one is unreadable).</param>
    public static ZImageEngine Create(EngineSettings s, bool randomRealWeights = false, GenerationRequest? firstRequest = null,
        SpeedProfile? speed = null) =>
        ZImageEngine.Create(Options(s, randomRealWeights), s.InjectOom is { } spec ? OutOfMemoryInjector.Parse(spec) : null, firstRequest, speed);
}
