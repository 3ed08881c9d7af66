using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Planning;

/// <summary>The planner reads the model's memory description as data: it must survive a round trip and a broken file
/// must be named.</summary>
public class FootprintJsonTests
{
    [Fact]
    public void TheReleasedDescriptionRoundTrips()
    {
        var again = ModelFootprint.FromJson(Released.ToJson(), "memory");
        Assert.Equal(Released.ToJson(), again.ToJson());
        Assert.Equal(34, again.Transformer.Blocks.Count);
        Assert.Equal(35, again.TextEncoder.Blocks.Count);
        Assert.Equal(Released.Transformer.TotalBytes(WeightStorage.Fp8), again.Transformer.TotalBytes(WeightStorage.Fp8));
        Assert.Equal(BlockInput.CaptionTokens, again.Transformer.Blocks[2].Input);
    }

    [Fact]
    public void BlocksAreFoundInExecutionOrder()
    {
        var dit = Released.Transformer;
        Assert.Equal(0, dit.ExecutionIndex("noise_refiner.0"));
        Assert.Equal(4, dit.ExecutionIndex("layers.0"));
        Assert.Throws<ArgumentException>(() => dit.ExecutionIndex("layers.99"));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"TextEncoder\": null}")]
    public void AnIncompleteDescriptionIsRefusedNamingItsOrigin(string json)
    {
        var error = Assert.Throws<FormatException>(() => ModelFootprint.FromJson(json, "footprint.json"));
        Assert.Contains("footprint.json", error.Message);
    }
}
