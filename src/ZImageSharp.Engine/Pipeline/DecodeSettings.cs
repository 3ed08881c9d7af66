using ZImageSharp.Engine.Models.Vae;

namespace ZImageSharp.Engine.Pipeline;

/// <summary>How the VAE decode of one generation runs, as the memory plan decided.</summary>
public sealed record DecodeSettings(VaeTileOptions? Tiles, int ImagesPerPass)
{
    public static DecodeSettings Full { get; } = new(null, int.MaxValue);
}

/// <summary>Moves components in and out of the device around their phases (a memory plan's placement).
/// <see cref="ResidentPlacement"/> leaves everything where it was built.</summary>
public interface IPhasePlacement
{
    void BeforePhase(Contracts.GenerationPhase phase);
    void AfterPhase(Contracts.GenerationPhase phase);
    /// <summary>Where the text encoder computes (the CPU for the last-resort placement).</summary>
    TorchSharp.torch.Device TextEncoderDevice { get; }
}

public sealed class ResidentPlacement(TorchSharp.torch.Device textEncoderDevice) : IPhasePlacement
{
    public void BeforePhase(Contracts.GenerationPhase phase) { }
    public void AfterPhase(Contracts.GenerationPhase phase) { }
    public TorchSharp.torch.Device TextEncoderDevice { get; } = textEncoderDevice;
}
