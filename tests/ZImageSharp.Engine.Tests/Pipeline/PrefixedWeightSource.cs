using TorchSharp;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Pipeline;

/// <summary>The tensors of one component in a fixture that stores several ("dit.*", "vae.*"), without the prefix.</summary>
internal sealed class PrefixedWeightSource(IWeightSource inner, string prefix) : IWeightSource
{
    private readonly string[] _names = inner.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
        .Select(n => n[prefix.Length..]).ToArray();

    public string Origin => $"{inner.Origin} ({prefix}*)";
    public IReadOnlyCollection<string> Names => _names;
    public bool Contains(string name) => inner.Contains(prefix + name);
    public SafetensorsEntry Describe(string name) => inner.Describe(prefix + name);
    public torch.Tensor Read(string name) => inner.Read(prefix + name);
    public void Dispose() { }
}
