using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Vae;

// Reference: diffusers src/diffusers/models/attention_processor.py (Attention with group_norm, AttnProcessor2_0)

/// <summary>
/// The mid-block's single-head self-attention over the H·W positions, with a GroupNorm in front and a residual.
/// SDPA gets 4-D [B, 1, H·W, C] tensors: with 3-D inputs PyTorch falls back to the math kernel, which materialises
/// the (H·W)² score matrix (1 GiB at 1024² output, 37 GiB at 2048²; platform notes).
/// </summary>
public sealed class VaeAttention : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly GroupNorm group_norm;
    private readonly Linear to_q;
    private readonly Linear to_k;
    private readonly Linear to_v;
    private readonly ModuleList<Linear> to_out;
#pragma warning restore IDE1006

    public VaeAttention(long channels, int groups, BuildTarget placement) : base(nameof(VaeAttention))
    {
        var (device, dtype) = (placement.Device, placement.DType);
        group_norm = VaeLayers.GroupNorm(groups, channels, placement);
        to_q = nn.Linear(channels, channels, hasBias: true, device, dtype);
        to_k = nn.Linear(channels, channels, hasBias: true, device, dtype);
        to_v = nn.Linear(channels, channels, hasBias: true, device, dtype);
        // diffusers' to_out is [Linear, Dropout]; the dropout has no weights, so only index 0 exists here.
        to_out = new ModuleList<Linear>(nn.Linear(channels, channels, hasBias: true, device, dtype));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var _ = OpScope.Of(VaeLayers.Timer, "vae mid attention");
        long b = x.shape[0], c = x.shape[1], hgt = x.shape[2], wid = x.shape[3];
        // Every intermediate is as large as x (32 MB at 1024² output in float32): each is freed once consumed, so at
        // most four are alive, where the dispose scope alone would hold all eight until the end.
        Tensor q, k, v;
        using (var normed = group_norm.forward(x))
        using (var flat = normed.reshape(b, c, hgt * wid))
        using (var h = flat.transpose(1, 2))                                                 // [B, HW, C]
        {
            q = to_q.forward(h);
            k = to_k.forward(h);
            v = to_v.forward(h);
        }
        Tensor attended;
        using (q)
        using (k)
        using (v)
        using (var q4 = q.unsqueeze(1))                                                      // [B, 1, HW, C]
        using (var k4 = k.unsqueeze(1))
        using (var v4 = v.unsqueeze(1))
            attended = nn.functional.scaled_dot_product_attention(q4, k4, v4);               // scale 1/sqrt(C)
        Tensor projected;
        using (attended)
        using (var rows = attended.squeeze(1))                                               // [B, HW, C]
            projected = to_out[0].forward(rows);
        using (projected)
        using (var channelsFirst = projected.transpose(1, 2))
        using (var o = channelsFirst.reshape(b, c, hgt, wid))                                // [B, C, H, W]
            return o.add(x, Scalars.One).MoveToOuterDisposeScope();
    }
}

/// <summary>resnets.0 → attentions.0 → resnets.1, all at the deepest width.</summary>
public sealed class UNetMidBlock2D : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the checkpoint keys
    private readonly ModuleList<VaeAttention> attentions;
    private readonly ModuleList<ResnetBlock2D> resnets;
#pragma warning restore IDE1006

    public UNetMidBlock2D(long channels, int groups, bool addAttention, BuildTarget placement) : base(nameof(UNetMidBlock2D))
    {
        attentions = new ModuleList<VaeAttention>();
        if (addAttention) attentions.Add(new VaeAttention(channels, groups, placement));
        resnets = new ModuleList<ResnetBlock2D>(
            new ResnetBlock2D(channels, channels, groups, placement),
            new ResnetBlock2D(channels, channels, groups, placement));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var stages = attentions.Count > 0
            ? new nn.Module<Tensor, Tensor>[] { resnets[0], attentions[0], resnets[1] }
            : [resnets[0], resnets[1]];
        return VaeLayers.Chain(x, stages);
    }
}
