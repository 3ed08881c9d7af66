using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.TextEncoder;

// Reference: transformers src/transformers/models/qwen3/modeling_qwen3.py (Qwen3MLP, Qwen3DecoderLayer)

/// <summary>SwiGLU MLP: down(SiLU(gate(x)) ⊙ up(x)).</summary>
public sealed class Qwen3Mlp : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;
#pragma warning restore IDE1006

    public Qwen3Mlp(Qwen3Config config, BuildTarget placement) : base(nameof(Qwen3Mlp))
    {
        var (device, dtype) = (placement.Device, placement.DType);
        gate_proj = nn.Linear(config.HiddenSize, config.IntermediateSize, false, device, dtype);
        up_proj = nn.Linear(config.HiddenSize, config.IntermediateSize, false, device, dtype);
        down_proj = nn.Linear(config.IntermediateSize, config.HiddenSize, false, device, dtype);
        RegisterComponents();
    }

    /// <summary>Per-op timing hook (see <see cref="Qwen3Model.Profile"/>); null for none.</summary>
    internal IOpTimer? Timer { get; set; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var _ = OpScope.Of(Timer, "te mlp");
        var h = gate_proj.forward(x).silu_();
        h.mul_(up_proj.forward(x));
        return down_proj.forward(h).MoveToOuterDisposeScope();
    }
}

/// <summary>Pre-norm transformer layer: x + Attn(norm(x)), then x + MLP(norm(x)).</summary>
public sealed class Qwen3DecoderLayer : nn.Module
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly RmsNorm input_layernorm;
    private readonly Qwen3Attention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly Qwen3Mlp mlp;
#pragma warning restore IDE1006

    public Qwen3DecoderLayer(Qwen3Config config, BuildTarget placement) : base(nameof(Qwen3DecoderLayer))
    {
        input_layernorm = placement.Apply(new RmsNorm(config.HiddenSize, config.RmsNormEps));
        self_attn = new Qwen3Attention(config, placement);
        post_attention_layernorm = placement.Apply(new RmsNorm(config.HiddenSize, config.RmsNormEps));
        mlp = new Qwen3Mlp(config, placement);
        RegisterComponents();
    }

    /// <inheritdoc cref="Qwen3Attention.Forward"/>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        Tensor normed;
        using (OpScope.Of(Timer, "te input norm")) normed = input_layernorm.forward(x);
        var attention = self_attn.Forward(normed, cos, sin, mask);
        Tensor h;
        using (OpScope.Of(Timer, "te residual")) h = x.add(attention, Scalars.One);
        using (OpScope.Of(Timer, "te post norm")) normed = post_attention_layernorm.forward(h);
        var mlpOut = mlp.forward(normed);
        using (OpScope.Of(Timer, "te residual")) h.add_(mlpOut, Scalars.One);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Per-op timing hook (see <see cref="Qwen3Model.Profile"/>); null for none.</summary>
    internal IOpTimer? Timer
    {
        get => self_attn.Timer;
        set
        {
            self_attn.Timer = value;
            mlp.Timer = value;
        }
    }
}
