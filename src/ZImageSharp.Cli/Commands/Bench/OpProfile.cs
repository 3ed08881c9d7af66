using System.Diagnostics;
using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine;
using ZImageSharp.Engine.Models.Common;

namespace ZImageSharp.Cli.Commands.Bench;

/// <summary>
/// Per-op tables (<c>--profile</c>): one DiT forward (each op synchronized: GPU time), the text encoder twice (host
/// time only, which is what bounds it for short captions, then synchronized) and one VAE decode (synchronized).
/// </summary>
internal static class OpProfile
{
    public static string Run(ZImageEngine engine, int size, CancellationToken ct)
    {
        var device = engine.Device;
        void Sync() { if (device.IsCuda) torch.cuda.synchronize(device.Device); }
        var oneStep = new GenerationRequest { Prompt = BenchInputs.ShortPrompt, Width = size, Height = size, Steps = 1, Seed = 1 };
        void Generate() => engine.GenerateAsync(oneStep, null, ct).GetAwaiter().GetResult();
        Generate(); // warm
        var text = new System.Text.StringBuilder();

        var dit = new SynchronizedOpTimer(Sync);
        engine.Models.Transformer.Profile = dit;
        try { Generate(); }
        finally { engine.Models.Transformer.Profile = null; }
        text.AppendLine($"profile of one DiT forward at {size}x{size} (each op synchronized):").AppendLine(dit.Format());

        foreach (var (name, timer) in new[] { ("host time, no synchronization", new SynchronizedOpTimer(() => { })), ("each op synchronized", new SynchronizedOpTimer(Sync)) })
        {
            engine.Models.TextEncoder.Profile = timer;
            try { Generate(); }
            finally { engine.Models.TextEncoder.Profile = null; }
            text.AppendLine($"profile of one text encoding, {engine.Models.Tokenizer.EncodePromptIds(BenchInputs.ShortPrompt).Length} tokens ({name}):").AppendLine(timer.Format());
        }

        // The VAE stays loaded under an all-resident plan, so after a generation it can be called directly.
        var vae = engine.Models.Vae;
        var latentSide = size / 8;
        using (torch.no_grad())
        using (var z = torch.randn([1, vae.Config.LatentChannels, latentSide, latentSide], vae.ParameterDType(), vae.ParameterDevice()))
        {
            vae.Decode(z).Dispose(); // warm at this size
            var timer = new SynchronizedOpTimer(Sync);
            Sync();
            var clock = Stopwatch.StartNew();
            vae.Decode(z).Dispose();
            Sync();
            double plain = clock.Elapsed.TotalMilliseconds;
            vae.Decode(z, timer).Dispose();
            text.AppendLine($"profile of one VAE decode at {size}x{size} ({plain:0.0} ms unprofiled; each op synchronized):").AppendLine(timer.Format());
        }
        return text.ToString();
    }
}
