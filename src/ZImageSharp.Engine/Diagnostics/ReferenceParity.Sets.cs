using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using TorchSharp;
using ZImageSharp.Engine.Imaging;
using ZImageSharp.Engine.Models.Common;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Scheduling;
using ZImageSharp.Engine.Weights;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Diagnostics;

// The per-set checks. Each builds its model on the target device in the target dtype (never moved there afterwards:
// TorchSharp's Module.to throws on trees holding a ModuleDict) and feeds inputs the way the engine does: in bf16 the
// DiT gets bf16 latents and captions with a float32 time, the loop keeps float32 latents and scheduler math.
public sealed partial class ReferenceParity
{
    /// <summary>dit_caseN: one transformer forward over a batch given as lists; every sample's output.</summary>
    private void CheckTransformer(string set, ParityRows rows, Arithmetic arithmetic)
    {
        var config = ZImageTransformerConfig.FromJson(FixturePath("dit_weights.json"));
        using var model = new ZImageTransformer(config, _device, arithmetic.ModelDType);
        using (var weights = SafetensorsFile.Open(FixturePath("dit_weights.safetensors")))
            WeightLoader.LoadInto(model, weights);
        arithmetic.Loaded(model);

        int batch = ReadJson($"{set}.json").GetProperty("batch").GetInt32();
        using var fixture = SafetensorsFile.Open(FixturePath($"{set}.safetensors"));
        var latents = Enumerable.Range(0, batch).Select(i => arithmetic.Input(fixture.Read($"x.{i}"), _device)).ToArray();
        var captions = Enumerable.Range(0, batch).Select(i => arithmetic.Input(fixture.Read($"cap.{i}"), _device)).ToArray();
        var time = fixture.Read("t").to(ScalarType.Float32, _device);
        var outputs = model.forward(latents, time, captions);
        for (int i = 0; i < batch; i++)
            rows.Compare($"out.{i}", outputs[i], fixture.Read($"out.{i}"));
    }

    /// <summary>
    /// qwen3_caseN with the model Z-Image builds (no last layer, no final norm): hidden_states[-2] of the padded
    /// batch at real tokens, then each prompt alone through the unpadded EncodeForZImage path the engine uses.
    /// </summary>
    private void CheckTextEncoder(string set, ParityRows rows, Arithmetic arithmetic)
    {
        var config = Qwen3Config.FromJson(File.ReadAllText(FixturePath("qwen3_weights.json")), FixturePath("qwen3_weights.json"));
        using var model = Qwen3Model.CreateForZImage(config, new BuildTarget(_device, arithmetic.ModelDType));
        using (var weights = SafetensorsFile.Open(FixturePath("qwen3_weights.safetensors")))
            WeightLoader.LoadInto(model, weights, model.IsUnbuiltCheckpointKey);
        arithmetic.Loaded(model);

        using var fixture = SafetensorsFile.Open(FixturePath($"{set}.safetensors"));
        var ids = fixture.Read("input_ids");
        var mask = fixture.Read("attention_mask");
        var expected = fixture.Read("hidden_second_last");
        var real = mask.to(ScalarType.Bool);
        // Rows at padded positions are garbage in the reference too: only real tokens are compared ([Σ L_b, hidden]).
        var padded = model.Forward(ids.to(_device), mask.to(_device), -2).cpu();
        rows.Compare("hidden_second_last (padded batch)", padded[real], expected[real], "real tokens only");

        var lengths = mask.sum(1).data<long>().ToArray();
        for (int b = 0; b < lengths.Length; b++)
        {
            var alone = model.EncodeForZImage(ids[b].narrow(0, 0, lengths[b]).to(_device));
            rows.Compare($"hidden_second_last prompt {b} (unpadded, L={lengths[b]})", alone, expected[b].narrow(0, 0, lengths[b]),
                "EncodeForZImage");
        }
    }

    /// <summary>vae_caseN: the raw decoder output of z, and the encoder's mean and clamped log-variance of an image.</summary>
    private void CheckVae(string set, ParityRows rows, Arithmetic arithmetic)
    {
        var config = AutoencoderKLConfig.FromJson(File.ReadAllText(FixturePath("vae_weights.json")), FixturePath("vae_weights.json"));
        using var vae = AutoencoderKL.Create(config, AutoencoderParts.EncoderAndDecoder, new BuildTarget(_device, arithmetic.ModelDType));
        using (var weights = SafetensorsFile.Open(FixturePath("vae_weights.safetensors")))
            WeightLoader.LoadInto(vae, weights, vae.IsUnbuiltCheckpointKey);
        arithmetic.Loaded(vae);

        using var fixture = SafetensorsFile.Open(FixturePath($"{set}.safetensors"));
        rows.Compare("decoded", vae.Decode(arithmetic.Input(fixture.Read("z"), _device)), fixture.Read("decoded"));
        var (mean, logVariance) = vae.Encode(arithmetic.Input(fixture.Read("image"), _device));
        rows.Compare("enc_mean", mean, fixture.Read("enc_mean"));
        rows.Compare("enc_logvar", logVariance, fixture.Read("enc_logvar"));
    }

    [GeneratedRegex(@"^sigmas\.shift(?<shift>[0-9.]+)\.n(?<steps>\d+)$")]
    private static partial Regex SigmasKey();

    // The fixture states the step's settings only in prose ("step uses shift 3, 8 steps, first timestep").
    private const int StepFixtureSteps = 8;
    private const double StepFixtureShift = 3.0;

    /// <summary>
    /// The schedule tables (worst table of each kind) and one Euler step on the device. The scheduler computes in
    /// float32 whatever the model dtype, so its rows measure the same arithmetic under either dtype.
    /// </summary>
    private void CheckScheduler(string set, ParityRows rows, Arithmetic arithmetic)
    {
        using var fixture = SafetensorsFile.Open(FixturePath($"{set}.safetensors"));
        double worstSigmas = 0, worstTimesteps = 0;
        int tables = 0;
        foreach (var name in fixture.Names.Order(StringComparer.Ordinal))
        {
            var match = SigmasKey().Match(name);
            if (!match.Success) continue;
            var shiftText = match.Groups["shift"].Value;
            var scheduler = new FlowMatchEulerScheduler(double.Parse(shiftText, CultureInfo.InvariantCulture));
            int steps = int.Parse(match.Groups["steps"].Value, CultureInfo.InvariantCulture);
            worstSigmas = Math.Max(worstSigmas, RelativeError(scheduler.Sigmas(steps), fixture.Read(name)));
            worstTimesteps = Math.Max(worstTimesteps,
                RelativeError(scheduler.Timesteps(steps), fixture.Read($"timesteps.shift{shiftText}.n{steps}")));
            tables++;
        }
        if (tables > 0)
        {
            rows.Add($"sigmas ({tables} schedules)", worstSigmas, "worst table");
            rows.Add($"timesteps ({tables} schedules)", worstTimesteps, "worst table");
        }

        // step.v is what diffusers' scheduler.step receives: the pipeline's noise_pred = −(transformer output).
        var sigmas = FlowMatchEulerScheduler.Sigmas(StepFixtureSteps, StepFixtureShift);
        var x = fixture.Read("step.x").to(ScalarType.Float32, _device);
        var velocity = fixture.Read("step.v").neg().to(ScalarType.Float32, _device);
        rows.Compare("step.out", FlowMatchEulerScheduler.Step(x, velocity, sigmas[0], sigmas[1]), fixture.Read("step.out"),
            "float32 in every dtype");
    }

    /// <summary>
    /// pipeline_caseN: the whole loop from prompt embeddings through <see cref="Denoiser"/> (latents after every step),
    /// then the loop's own final latents unscaled and decoded to the "pt" image clamp(decoded / 2 + 0.5, 0, 1).
    /// The VAE runs in the compute dtype, as the engine does on CUDA (on the CPU the engine decodes in float32).
    /// </summary>
    private void CheckPipeline(string set, ParityRows rows, Arithmetic arithmetic)
    {
        var root = ReadJson($"{set}.json");
        var origin = FixturePath($"{set}.json");
        var ditConfig = ZImageTransformerConfig.Parse(root.GetProperty("dit_config").GetRawText(), $"{origin} dit_config");
        var vaeConfig = AutoencoderKLConfig.FromJson(root.GetProperty("vae_config").GetRawText(), $"{origin} vae_config");
        var options = DenoiseSettings(root);

        using var fixture = SafetensorsFile.Open(FixturePath($"{set}.safetensors"));
        using var model = new ZImageTransformer(ditConfig, _device, arithmetic.ModelDType);
        WeightLoader.LoadInto(model, new PrefixedSource(fixture, "dit."));
        arithmetic.Loaded(model);

        var initial = fixture.Read("latents_in");
        int batch = (int)initial.shape[0];
        // The loop casts captions to the model dtype itself; Input only matters for the rounding floor.
        var captions = Enumerable.Range(0, batch).Select(i => arithmetic.Input(fixture.Read($"prompt_embeds.{i}"), _device)).ToArray();
        var negatives = options.UsesGuidance
            ? Enumerable.Range(0, batch).Select(i => arithmetic.Input(fixture.Read($"negative_embeds.{i}"), _device)).ToArray()
            : null;
        var latents = new Denoiser(model).Run(initial, captions, options, negatives,
            (step, current) => rows.Compare($"latents_after_step.{step}", current, fixture.Read($"latents_after_step.{step}")));

        using var vae = AutoencoderKL.Create(vaeConfig, AutoencoderParts.DecoderOnly, new BuildTarget(_device, arithmetic.ModelDType));
        WeightLoader.LoadInto(vae, new PrefixedSource(fixture, "vae."), vae.IsUnbuiltCheckpointKey);
        arithmetic.Loaded(vae);
        // As ZImagePipeline.Decode: cast to the VAE's dtype first, then unscale.
        var z = vae.FromDiffusionLatents(arithmetic.Input(latents, _device));
        var image = ImageConversion.Denormalize(vae.Decode(z));
        rows.Compare("image", image, fixture.Read("image"), "from the loop's own latents");
    }

    private static DenoiseOptions DenoiseSettings(JsonElement root)
    {
        var normalization = root.GetProperty("cfg_normalization");
        return new DenoiseOptions
        {
            Steps = root.GetProperty("steps").GetInt32(),
            Shift = root.GetProperty("scheduler").GetProperty("shift").GetDouble(),
            GuidanceScale = root.GetProperty("guidance_scale").GetSingle(),
            CfgTruncation = root.GetProperty("cfg_truncation").GetSingle(),
            // diffusers accepts a bool (True = 1) or a float here.
            CfgNormalization = normalization.ValueKind switch
            {
                JsonValueKind.True => 1f,
                JsonValueKind.False => 0f,
                _ => normalization.GetSingle(),
            },
        };
    }

    private static double RelativeError(float[] actual, Tensor expected)
    {
        using (expected)
        using (var computed = tensor(actual))
            return RelativeError(computed, expected);
    }

    private JsonElement ReadJson(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(FixturePath(file)));
        return doc.RootElement.Clone();
    }

    /// <summary>The tensors of one component in a fixture that stores several ("dit.*", "vae.*"), without the prefix.</summary>
    private sealed class PrefixedSource(IWeightSource inner, string prefix) : IWeightSource
    {
        private readonly string[] _names = inner.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .Select(n => n[prefix.Length..]).ToArray();

        public string Origin => $"{inner.Origin} ({prefix}*)";
        public IReadOnlyCollection<string> Names => _names;
        public bool Contains(string name) => inner.Contains(prefix + name);
        public SafetensorsEntry Describe(string name) => inner.Describe(prefix + name);
        public Tensor Read(string name) => inner.Read(prefix + name);

        // The inner file belongs to the caller.
        public void Dispose() { }
    }
}
