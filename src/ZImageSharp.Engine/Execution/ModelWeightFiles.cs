using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Execution;

/// <summary>The open weight files of a checkpoint whose modules were built on the meta device: what the placer reads
/// each tensor from, at start-up and whenever a later plan needs it again (the files stay open for the engine's life).</summary>
public sealed class ModelWeightFiles : IDisposable
{
    internal ModelWeightFiles(IWeightSource textEncoder, IWeightSource transformer, IWeightSource vae)
        : this(new WeightFile(textEncoder), new WeightFile(transformer), new WeightFile(vae)) { }

    /// <summary>Any subset (tests place one component from its file).</summary>
    internal ModelWeightFiles(WeightFile? textEncoder = null, WeightFile? transformer = null, WeightFile? vae = null)
    {
        TextEncoder = textEncoder;
        Transformer = transformer;
        Vae = vae;
    }

    internal WeightFile? TextEncoder { get; }
    internal WeightFile? Transformer { get; }
    internal WeightFile? Vae { get; }

    public void Dispose()
    {
        TextEncoder?.Dispose();
        Transformer?.Dispose();
        Vae?.Dispose();
    }
}
