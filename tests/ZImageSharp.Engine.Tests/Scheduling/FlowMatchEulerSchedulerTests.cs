using System.Text.RegularExpressions;
using TorchSharp;
using ZImageSharp.Engine.Scheduling;
using ZImageSharp.Engine.Tests.Transformer;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Scheduling;

public partial class FlowMatchEulerSchedulerTests
{
    [GeneratedRegex(@"^sigmas\.shift(?<shift>[0-9.]+)\.n(?<steps>\d+)$")]
    private static partial Regex SigmasKey();

    /// <summary>Every schedule in the fixture (shift 1, 3, 6 × N = 1…50) is bit-identical, timesteps too.</summary>
    [SkippableFact]
    [Trait("Category", "Parity")]
    public void SchedulesAreBitIdenticalToDiffusers()
    {
        TestData.RequireReference("scheduler.safetensors");
        using var fixture = SafetensorsFile.Open(TestData.Reference("scheduler.safetensors"));
        int checkedSchedules = 0;
        foreach (var name in fixture.Names)
        {
            var match = SigmasKey().Match(name);
            if (!match.Success) continue;
            double shift = double.Parse(match.Groups["shift"].Value, System.Globalization.CultureInfo.InvariantCulture);
            int steps = int.Parse(match.Groups["steps"].Value, System.Globalization.CultureInfo.InvariantCulture);
            var scheduler = new FlowMatchEulerScheduler(shift);

            using var sigmas = fixture.Read(name);
            using var timesteps = fixture.Read($"timesteps.shift{match.Groups["shift"].Value}.n{steps}");
            Assert.Equal(sigmas.data<float>().ToArray(), scheduler.Sigmas(steps));
            Assert.Equal(timesteps.data<float>().ToArray(), scheduler.Timesteps(steps));
            checkedSchedules++;
        }
        Assert.Equal(21, checkedSchedules);
    }

    [SkippableFact]
    [Trait("Category", "Parity")]
    public void StepMatchesDiffusers()
    {
        TestData.RequireReference("scheduler.safetensors");
        using var fixture = SafetensorsFile.Open(TestData.Reference("scheduler.safetensors"));
        using var x = fixture.Read("step.x");
        // step.v is what diffusers' scheduler.step receives: the pipeline's noise_pred = −(transformer output).
        using var schedulerInput = fixture.Read("step.v");
        using var velocity = schedulerInput.neg();
        using var expected = fixture.Read("step.out");
        var sigmas = FlowMatchEulerScheduler.Sigmas(8, 3.0);
        using var actual = FlowMatchEulerScheduler.Step(x, velocity, sigmas[0], sigmas[1]);
        Assert.Equal(0.0, TensorAssert.RelativeError(actual, expected));
    }

    /// <summary>Spec §6.4: the Turbo schedule, its model times and step sizes.</summary>
    [Fact]
    public void TurboScheduleMatchesTheWorkedTable()
    {
        var scheduler = FlowMatchEulerScheduler.ZImageTurbo;
        var sigmas = scheduler.Sigmas(8);
        float[] expected = [1f, 21f / 22f, 0.9f, 5f / 6f, 0.75f, 9f / 14f, 0.5f, 0.3f, 0f];
        Assert.Equal(9, sigmas.Length);
        for (int i = 0; i < sigmas.Length; i++) Assert.Equal(expected[i], sigmas[i], 1e-6f);

        var modelTimes = scheduler.Timesteps(8).Select(scheduler.ModelTime).ToArray();
        Assert.Equal(0f, modelTimes[0]);
        for (int i = 0; i < 8; i++) Assert.Equal(1f - sigmas[i], modelTimes[i], 1e-6f);
        Assert.Equal(0.7f, modelTimes[7], 1e-6f);
    }

    [Fact]
    public void StepMovesAgainstTheVelocity()
    {
        // x' = x + (σ_next − σ)·(−v): with σ 1 → 0.75 and v = 2, x = 1 becomes 1 + 0.25·2 = 1.5.
        using var x = torch.ones(3);
        using var v = torch.full(3, 2f);
        using var next = FlowMatchEulerScheduler.Step(x, v, 1f, 0.75f);
        Assert.Equal([1.5f, 1.5f, 1.5f], next.data<float>().ToArray());
        Assert.Equal(torch.ScalarType.Float32, next.dtype);
    }

    [Fact]
    public void RejectsMeaninglessArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new FlowMatchEulerScheduler(0.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => FlowMatchEulerScheduler.ZImageTurbo.Sigmas(0));
    }
}
