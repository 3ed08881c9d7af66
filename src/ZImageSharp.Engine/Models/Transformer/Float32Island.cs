using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

/// <summary>
/// The small parts of the transformer that run in float32 whatever the model dtype: the timestep embedder, every
/// adaLN modulation Linear and the final layer (see <see cref="ZImageTransformer.KeepsFloat32"/> for why).
/// </summary>
internal static class Float32Island
{
    /// <summary>A Linear computed in float32 with a float32 result, whatever the dtypes of the input and of the
    /// layer's weights (weights still in a lower precision are widened for this call only).</summary>
    public static Tensor Linear(Linear layer, Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.to(ScalarType.Float32);
        var weight = layer.weight!.to(ScalarType.Float32);
        var bias = layer.bias?.to(ScalarType.Float32);
        var output = nn.functional.linear(x, weight, bias);
        ZImageSharp.Engine.Models.Common.LinearAdapters.AddTo(layer, output, x);
        return output.MoveToOuterDisposeScope();
    }
}
