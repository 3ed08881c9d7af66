using ZImageSharp.Contracts;

namespace ZImageSharp.Core.Tests.Contracts;

public class GenerationRequestValidatorTests
{
    private static IReadOnlyList<ZImageSharp.Errors.FieldError> Check(GenerationRequest request) =>
        GenerationRequestValidator.Check(request, RequestLimits.Default);

    [Theory]
    [InlineData(long.MaxValue, 2, long.MaxValue - 1)]
    [InlineData(long.MaxValue - 6, 8, long.MaxValue - 7)]
    public void ASeedWhoseLastImageWouldPassTheRangeIsRefusedNamingTheLargestThatFits(long seed, int count, long largest)
    {
        var error = Assert.Single(Check(new GenerationRequest { Prompt = "x", Seed = seed, Count = count }));
        Assert.Equal("seed", error.Field);
        Assert.Equal($"must be at most {largest} for {count} images: image i uses seed + i, and every image seed must stay " +
            $"between 0 and {long.MaxValue} (got {seed}).", error.Message);
    }

    [Theory]
    [InlineData(long.MaxValue, 1)]
    [InlineData(long.MaxValue - 1, 2)]
    [InlineData(long.MaxValue - 7, 8)]
    [InlineData(0L, 8)]
    public void EverySeedWhoseImagesStayInTheRangeIsAccepted(long seed, int count) =>
        Assert.Empty(Check(new GenerationRequest { Prompt = "x", Seed = seed, Count = count }));

    [Fact]
    public void AnInvalidCountIsReportedAloneNotAsASeedProblemToo()
    {
        var error = Assert.Single(Check(new GenerationRequest { Prompt = "x", Seed = long.MaxValue, Count = 9 }));
        Assert.Equal("count", error.Field);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-1f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(101f)]
    public void AShiftTheSchedulerCannotUseIsRefusedBeforeAnyWork(float shift)
    {
        var error = Assert.Single(Check(new GenerationRequest { Prompt = "x", Shift = shift }));
        Assert.Equal("shift", error.Field);
        Assert.StartsWith("must be above 0 and at most 100 (got ", error.Message);
    }

    [Theory]
    [InlineData("width", "a multiple of 16 between 64 and 4096")]
    [InlineData("steps", "between 1 and 100")]
    [InlineData("seed", "between 0 and 9223372036854775807, or omitted for a random seed")]
    [InlineData("guidance_scale", "between 0 and 30")]
    public void AllowedIsTheWordingOfTheValidatorsOwnMessages(string field, string allowed)
    {
        Assert.Equal(allowed, GenerationRequestValidator.Allowed(field, RequestLimits.Default));
        var request = field switch
        {
            "width" => new GenerationRequest { Prompt = "x", Width = 100 },
            "steps" => new GenerationRequest { Prompt = "x", Steps = 0 },
            "seed" => new GenerationRequest { Prompt = "x", Seed = -1 },
            _ => new GenerationRequest { Prompt = "x", GuidanceScale = -1 },
        };
        Assert.StartsWith($"must be {allowed} (got ", Assert.Single(Check(request)).Message);
    }

    [Fact]
    public void EverySamplerOnEveryScheduleIsAcceptedInAnyCase()
    {
        foreach (var sampler in SamplerNames.All)
            foreach (var scheduler in SchedulerNames.All)
                Assert.Empty(Check(new GenerationRequest { Prompt = "x", Sampler = sampler.ToUpperInvariant(), Scheduler = scheduler }));
    }

    [Fact]
    public void AnUnknownSamplerAndSchedulerAreRefusedListingTheValidOnes()
    {
        var errors = Check(new GenerationRequest { Prompt = "x", Sampler = "ddim", Scheduler = "exponential" });
        Assert.Equal(["sampler", "scheduler"], errors.Select(e => e.Field));
        Assert.Equal("must be one of: euler, euler_ancestral, res_multistep, dpmpp_2m, lcm (got 'ddim').", errors[0].Message);
        Assert.Equal("must be one of: simple, beta, karras (got 'exponential').", errors[1].Message);
    }

    [Fact]
    public void AMissingSamplerOrSchedulerIsAnErrorNotACrash()
    {
        var errors = Check(new GenerationRequest { Prompt = "x", Sampler = null!, Scheduler = null! });
        Assert.Equal(["sampler", "scheduler"], errors.Select(e => e.Field));
    }
}
