using ZImageSharp.Engine.Models.Vae;

namespace ZImageSharp.Engine.Pipeline;

/// <summary>How the VAE decode of one generation runs, as the memory plan decided.</summary>
public sealed record DecodeSettings(VaeTileOptions? Tiles, int ImagesPerPass)
{
    public static DecodeSettings Full { get; } = new(null, int.MaxValue);
}

/// <summary>Moves components' weights in and out of the device around their phases, as the memory plan's component
/// placements (<c>Planning.ComponentPlacement</c>) say; <see cref="ResidentPhaseWeights"/> leaves everything where it
/// was built. Not to be confused with where a module is built (<see cref="Models.Common.BuildTarget"/>) or how a
/// component's weights live (<c>Planning.Placement</c>).</summary>
public interface IPhaseWeights
{
    void BeforePhase(Contracts.GenerationPhase phase);
    void AfterPhase(Contracts.GenerationPhase phase);
    /// <summary>Where the text encoder computes (the CPU for the last-resort placement).</summary>
    TorchSharp.torch.Device TextEncoderDevice { get; }
}

public sealed class ResidentPhaseWeights(TorchSharp.torch.Device textEncoderDevice) : IPhaseWeights
{
    public void BeforePhase(Contracts.GenerationPhase phase) { }
    public void AfterPhase(Contracts.GenerationPhase phase) { }
    public TorchSharp.torch.Device TextEncoderDevice { get; } = textEncoderDevice;
}
