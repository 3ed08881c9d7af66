using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Diagnostics;

/// <summary>What <see cref="SpeedCalibration.Measure"/> runs: square sizes at batch 1 without guidance, each once to
/// warm up and then <see cref="Runs"/> times; the first size also with <see cref="LongPrompt"/> (a second point for the
/// text encoder and the forward).</summary>
public sealed record CalibrationPlan
{
    public required IReadOnlyList<int> Sizes { get; init; }
    public required string ShortPrompt { get; init; }
    /// <summary>Null to skip the long-caption run.</summary>
    public string? LongPrompt { get; init; }
    public int Runs { get; init; } = 3;
    public int Steps { get; init; } = 8;
    /// <summary>A weight file to time reading from; null to time a temporary file.</summary>
    public string? WeightFile { get; init; }
    public long FileReadBytes { get; init; } = 1L << 30;
}

/// <summary>
/// Measures this card for a <see cref="CardProfile"/>: the matmul rate (bf16 products of the transformer's shapes on a
/// GPU; the engine's dtype at small shapes on the CPU), host-to-device copies (pinned and pageable, GPU only), the file
/// read rate, and per size the phases of real generations: text encode, one transformer forward (its own span: no
/// scheduler step, no preview), the rest of each step apart, and the VAE decode. Medians over the timed runs.
/// </summary>
public static class SpeedCalibration
{
    public static CardMeasurements Measure(ZImageEngine engine, CalibrationPlan plan, Action<string>? log, CancellationToken cancellationToken)
    {
        var device = engine.Device;
        double square = CardRateProbe.SquareMatmulTeraflops(device);
        double transformer = device.IsCuda
            ? CardRateProbe.MatmulTeraflops(device, torch.ScalarType.BFloat16, CardRateProbe.TransformerShapes)
            : CardRateProbe.MatmulTeraflops(device, engine.Models.Transformer.DType, CardRateProbe.CpuShapes, minSeconds: 0.1);
        log?.Invoke($"matmul: {square:0.##} TFLOP/s bf16 {CardRateProbe.SquareSide(device)}³, {transformer:0.##} TFLOP/s at the transformer's shapes");
        double? pinned = null, pageable = null;
        if (device.IsCuda)
        {
            pinned = CardRateProbe.HostToDeviceBytesPerSecond(device, pinned: true);
            pageable = CardRateProbe.HostToDeviceBytesPerSecond(device, pinned: false);
            log?.Invoke($"host to device: pinned {pinned / 1e9:0.0} GB/s, pageable {pageable / 1e9:0.0} GB/s");
        }
        var (fileRate, fileSource) = FileReadProbe.Measure(plan.WeightFile, plan.FileReadBytes);
        log?.Invoke($"file read: {fileRate / 1e9:0.00} GB/s ({fileSource})");

        var phases = new List<PhaseMeasurement>();
        var cases = plan.Sizes.Select(size => (Size: size, Prompt: plan.ShortPrompt)).ToList();
        if (plan.LongPrompt is { } longPrompt) cases.Add((plan.Sizes[0], longPrompt));
        foreach (var (size, prompt) in cases)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var request = new GenerationRequest { Prompt = prompt, Width = size, Height = size, Steps = plan.Steps, Seed = 42 };
            int tokens = engine.Models.Tokenizer.EncodePromptIds(prompt).Length;
            TimedGeneration.Run(engine, request, cancellationToken); // warm-up: kernels chosen, memory mapped
            var runs = Enumerable.Range(0, plan.Runs).Select(_ => TimedGeneration.Run(engine, request, cancellationToken)).ToList();
            if (runs.Any(r => r.ForwardMs.Count == 0))
                throw new InvalidOperationException("No transformer forward was timed: the transformer's stage names no longer match ForwardSpanTimer.");
            void Add(string phase, double ms) => phases.Add(new PhaseMeasurement(phase, size, size, tokens, ms));
            Add(CardMeasurements.TextEncode, TimedGeneration.Median(runs.Select(r => r.PhaseMs(GenerationPhase.Encode))));
            Add(CardMeasurements.TransformerForward, TimedGeneration.Median(runs.SelectMany(r => r.ForwardMs)));
            Add(CardMeasurements.StepOverhead, TimedGeneration.Median(runs.SelectMany(r => r.StepOverheadMs)));
            Add(CardMeasurements.VaeDecode, TimedGeneration.Median(runs.Select(r => r.PhaseMs(GenerationPhase.Decode))));
            log?.Invoke($"{size}x{size}, {tokens} caption tokens: " + string.Join(", ", phases.TakeLast(4).Select(p => $"{p.Phase} {p.Milliseconds:0.0} ms")));
        }
        return new CardMeasurements(square, pinned, pageable, fileRate, fileSource, phases) { TransformerMatmulTeraflopsPerSecond = transformer };
    }
}
