using static TorchSharp.torch;

namespace ZImageSharp.Engine.Scheduling;

/// <summary>Where a sampler that re-noises (euler_ancestral, lcm) gets each step's standard-normal noise. The engine
/// draws it from the request's seeded generators (<see cref="Pipeline.LatentNoise"/>); tests hand in stored noise.</summary>
public interface IStepNoise
{
    /// <summary>Standard-normal float32 noise shaped like <paramref name="like"/> [B, …], on its device; the caller
    /// owns it.</summary>
    Tensor Next(Tensor like);
}
