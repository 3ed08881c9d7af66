using System.Text.Json;
using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Scheduling;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Scheduling;

/// <summary>
/// Every schedule and sampler against tests/data/samplers (scripts/sampler-reference.py, ComfyUI's formulas in
/// double precision; scripts/gpu-sampler-reference.py checks those tables against ComfyUI's own code). The samplers run
/// the toy velocity field of the file in float32, as the engine runs latents.
/// </summary>
public sealed class SamplerParityTests(ITestOutputHelper output)
{
    private static string Data(string file) => Path.Combine(AppContext.BaseDirectory, "data", "samplers", file);

    private static JsonElement Load(string file) => JsonDocument.Parse(File.ReadAllText(Data(file))).RootElement;

    private static float[] Floats(JsonElement array) => array.EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();

    /// <summary>σ to within 2 float32 ulps of 1 (simple's own float32 values are bit-checked against diffusers by
    /// FlowMatchEulerSchedulerTests), and the same number of levels.</summary>
    [Fact]
    [Trait("Category", "Parity")]
    public void EverySchedulerMatchesTheReferenceTable()
    {
        var root = Load("schedules.json");
        int count = 0;
        var seen = new HashSet<string>();
        foreach (var entry in root.GetProperty("schedules").EnumerateArray())
        {
            string name = entry.GetProperty("scheduler").GetString()!;
            int steps = entry.GetProperty("steps").GetInt32();
            double shift = entry.GetProperty("shift").GetDouble();
            var expected = Floats(entry.GetProperty("sigmas"));
            var actual = SigmaSchedules.Sigmas(name, steps, shift);
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - actual[i]) <= 2.4e-7,
                    $"{name} N={steps} shift={shift}: σ[{i}] = {actual[i]:R}, the reference {expected[i]:R}");
            Assert.Equal(1f, actual[0]);
            Assert.Equal(0f, actual[^1]);
            seen.Add(name);
            count++;
        }
        Assert.Equal(SchedulerNames.All.OrderBy(n => n), seen.OrderBy(n => n));
        output.WriteLine($"{count} schedules match");
    }

    /// <summary>The reference found no step count up to the largest the validator allows where the beta schedule
    /// drops a repeated index, so N steps are always N transformer evaluations.</summary>
    [Fact]
    public void BetaScheduleNeverShortensWithinTheStepLimit()
    {
        Assert.Empty(Load("schedules.json").GetProperty("beta_shortened_step_counts_1_to_100").EnumerateArray());
        for (int steps = 1; steps <= RequestLimits.Default.MaxSteps; steps++)
            Assert.Equal(steps + 1, SigmaSchedules.Beta(steps, 3.0).Length);
    }

    /// <summary>ComfyUI's simple schedule on its 1000-entry table is Z-Image's wherever N divides 1000; elsewhere
    /// they differ by under 0.002 in σ (the table's grid), which docs/samplers.md states.</summary>
    [Fact]
    public void ComfySimpleDiffersFromZImagesOnlyOffItsGrid()
    {
        foreach (var entry in Load("schedules.json").GetProperty("comfyui_simple").EnumerateArray())
        {
            int steps = entry.GetProperty("steps").GetInt32();
            double difference = entry.GetProperty("max_abs_difference_from_simple").GetDouble();
            Assert.True(1000 % steps == 0 ? difference <= 2.4e-7 : difference < 2e-3, $"N={steps}: {difference}");
        }
    }

    [Fact]
    [Trait("Category", "Parity")]
    public void EverySamplerFollowsTheReferenceTrajectory()
    {
        var root = Load("trajectories.json");
        int batch = root.GetProperty("batch").GetInt32(), dim = root.GetProperty("dim").GetInt32();
        using var m = tensor(root.GetProperty("m").EnumerateArray().SelectMany(r => Floats(r)).ToArray(), [dim, dim]);
        using var mT = m.t().contiguous();
        using var c = tensor(Floats(root.GetProperty("c")), [1, dim]);
        using var e = tensor(Floats(root.GetProperty("e")), [1, dim]);
        var xInit = Floats(root.GetProperty("x_init"));
        var covered = new HashSet<string>();
        foreach (var @case in root.GetProperty("cases").EnumerateArray())
        {
            string sampler = @case.GetProperty("sampler").GetString()!;
            string label = $"{sampler} {@case.GetProperty("scheduler").GetString()} N={@case.GetProperty("steps").GetInt32()}";
            var sigmas = Floats(@case.GetProperty("sigmas"));
            var trajectory = @case.GetProperty("trajectory").EnumerateArray().Select(Floats).ToArray();
            var noise = @case.GetProperty("noise").ValueKind == JsonValueKind.Null
                ? null
                : new StoredNoise(@case.GetProperty("noise").EnumerateArray().Select(Floats).ToArray(), batch, dim);

            using var run = FlowSampler.Create(sampler, sigmas);
            Assert.Equal(trajectory.Length, run.Steps);
            Assert.Equal(noise is not null, run.DrawsNoise);
            var x = tensor(xInit, [batch, dim]);
            double worst = 0;
            for (int i = 0; i < run.Steps; i++)
            {
                using var scope = NewDisposeScope();
                using var s = ((double)sigmas[i]).ToScalar();
                var velocity = x.matmul(mT).add_(c).add_(e, s);
                var next = run.Step(i, x, velocity, noise).MoveToOuterDisposeScope();
                x.Dispose();
                x = next;
                var got = x.data<float>().ToArray();
                for (int j = 0; j < got.Length; j++)
                    worst = Math.Max(worst, Math.Abs(got[j] - trajectory[i][j]));
            }
            x.Dispose();
            output.WriteLine($"{label}: max |diff| {worst:E2}");
            Assert.True(worst <= 2e-5, $"{label}: max |diff| {worst:E2} from the reference trajectory");
            covered.Add(sampler);
        }
        Assert.Equal(SamplerNames.All.OrderBy(n => n), covered.OrderBy(n => n));
    }

    [Fact]
    public void AResamplingSamplerWithoutNoiseIsRefused()
    {
        using var run = FlowSampler.Create(SamplerNames.EulerAncestral, SigmaSchedules.Sigmas("simple", 2, 3.0));
        using var x = zeros(1, 4);
        var error = Assert.Throws<ArgumentException>(() => run.Step(0, x, x));
        Assert.Contains("noise", error.Message);
    }

    [Fact]
    public void UnknownNamesListTheValidOnes()
    {
        Assert.Contains("euler, euler_ancestral, res_multistep, dpmpp_2m, lcm",
            Assert.Throws<ArgumentException>(() => FlowSampler.Create("ddim", [1f, 0f])).Message);
        Assert.Contains("simple, beta, karras", Assert.Throws<ArgumentException>(() => SigmaSchedules.Sigmas("exponential", 4, 3.0)).Message);
    }

    /// <summary>The noise of each step as the reference stored it.</summary>
    private sealed class StoredNoise(float[][] steps, int batch, int dim) : IStepNoise
    {
        private int next;

        public Tensor Next(Tensor like)
        {
            Assert.Equal(new long[] { batch, dim }, like.shape);
            return tensor(steps[next++], [batch, dim]);
        }
    }
}
