using TorchSharp;

namespace ZImageSharp.Engine.Weights;

/// <summary>
/// Named tensors a model can be loaded from: one safetensors file, a sharded set, or a view that renames the keys of
/// another source (ComfyUI single files). Reading returns a new CPU tensor in the stored dtype; the caller owns it.
/// </summary>
public interface IWeightSource : IDisposable
{
    /// <summary>A short description for error messages (a file or folder path).</summary>
    string Origin { get; }
    IReadOnlyCollection<string> Names { get; }
    bool Contains(string name);
    /// <summary>Shape and dtype without reading data (planning, manifest checks).</summary>
    SafetensorsEntry Describe(string name);
    torch.Tensor Read(string name);
}
