using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Cuda.Kernels;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Transformer;

// Reference: diffusers src/diffusers/models/transformers/transformer_z_image.py (FeedForward)

/// <summary>SwiGLU feed-forward, all bias-free: <c>w2(SiLU(w1·x) ⊙ w3·x)</c>.</summary>
public sealed class SwiGluFeedForward : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly Linear w1;
    private readonly Linear w2;
    private readonly Linear w3;
#pragma warning restore IDE1006

    public SwiGluFeedForward(int dim, int hiddenDim, Device? device = null, ScalarType? dtype = null)
        : base(nameof(SwiGluFeedForward))
    {
        w1 = nn.Linear(dim, hiddenDim, hasBias: false, device, dtype);
        w2 = nn.Linear(hiddenDim, dim, hasBias: false, device, dtype);
        w3 = nn.Linear(dim, hiddenDim, hasBias: false, device, dtype);
        RegisterComponents();
    }

    /// <summary>Where per-op times go during a profiled forward; null when not profiling.</summary>
    internal IOpTimer? Timer { get; set; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // In place on the gate: two [.., hidden] buffers live instead of four (the widest activations of the model).
        Tensor gated;
        using (OpScope.Of(Timer, "ffn w1/w3 + swiglu"))
        {
            gated = LinearAdapters.Forward(w1, x);
            using var up = LinearAdapters.Forward(w3, x);
            // One pass of the own NVRTC kernel on a CUDA bf16 model; silu_ and mul_ everywhere else (docs/kernels.md).
            FusedSwiGlu.RunInPlace(gated, up);
        }
        using (OpScope.Of(Timer, "ffn w2"))
        using (gated)
            return LinearAdapters.Forward(w2, gated).MoveToOuterDisposeScope();
    }
}
