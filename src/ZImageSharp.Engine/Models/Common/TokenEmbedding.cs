using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Common;

/// <summary>
/// A token-embedding table looked up by row. TorchSharp 0.107's <c>nn.Embedding</c> is a native module holding its own
/// reference to the weight: a module built on the meta device and given real weights later (loading by the plan,
/// <see cref="Execution.ModuleResidency"/>) would keep looking rows up in the meta tensor. This one reads its
/// <see cref="weight"/> parameter at every call, like every other module here.
/// </summary>
public sealed class TokenEmbedding : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // parameter names are the checkpoint keys
    public readonly Parameter weight;
#pragma warning restore IDE1006

    public TokenEmbedding(long vocabSize, long dim, Device? device = null, ScalarType? dtype = null) : base(nameof(TokenEmbedding))
    {
        weight = new Parameter(empty(vocabSize, dim, dtype ?? ScalarType.Float32, device ?? CPU).normal_());
        RegisterComponents();
    }

    /// <summary>Rows of <see cref="weight"/> for integer ids of any shape: [..., dim].</summary>
    public override Tensor forward(Tensor ids)
    {
        using var flat = ids.reshape(-1);
        using var rows = weight.index_select(0, flat);
        return rows.reshape([.. ids.shape, weight.shape[1]]);
    }
}
