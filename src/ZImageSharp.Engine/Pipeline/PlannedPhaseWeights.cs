using ZImageSharp.Contracts;
using ZImageSharp.Engine.Execution;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Pipeline;

/// <summary>The pipeline's view of a <see cref="ComponentPlacer"/>: each generation phase maps to the plan phase that
/// needs its component on the device.</summary>
public sealed class PlannedPhaseWeights(ComponentPlacer placer) : IPhaseWeights
{
    public TorchSharp.torch.Device TextEncoderDevice => placer.TextEncoderDevice;

    public void BeforePhase(GenerationPhase phase)
    {
        if (ToPlanPhase(phase) is { } p) placer.BeforePhase(p);
    }

    public void AfterPhase(GenerationPhase phase)
    {
        if (ToPlanPhase(phase) is { } p) placer.AfterPhase(p);
    }

    internal static PlanPhase? ToPlanPhase(GenerationPhase phase) => phase switch
    {
        GenerationPhase.Encode => PlanPhase.TextEncode,
        GenerationPhase.Denoise => PlanPhase.Denoise,
        GenerationPhase.Decode => PlanPhase.Decode,
        _ => null,
    };
}
