using TorchSharp;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>
/// TorchSharp 0.107's <c>matmul</c> has no error guard in its native shim: any error inside it (an out-of-memory on the
/// GPU, a shape mismatch here) aborts the whole process, so the engine never calls it. This proves the ops the engine
/// does call turn a deliberate error into a catchable exception: an abort would take this test run down with it,
/// exactly as an OOM on the GPU would take a server down.
/// </summary>
public class OpSafetyTests
{
    public static TheoryData<string> Ops => [.. Failing.Keys];

    private static readonly Dictionary<string, Action> Failing = new()
    {
        ["mm"] = () => torch.mm(ones(2, 3), ones(4, 5)),
        ["bmm"] = () => torch.bmm(ones(2, 2, 3), ones(2, 4, 5)),
        ["linear"] = () => nn.functional.linear(ones(2, 3), ones(4, 5)),
        ["scaled_dot_product_attention"] = () => nn.functional.scaled_dot_product_attention(ones(1, 2, 4, 8), ones(1, 2, 4, 16), ones(1, 2, 4, 8)),
        ["cat"] = () => torch.cat([ones(2, 3), ones(2, 4)], 0),
        ["stack"] = () => torch.stack([ones(2, 3), ones(2, 4)], 0),
        ["narrow"] = () => ones(2, 3).narrow(1, 2, 5),
        ["view"] = () => ones(2, 3).view(4, 2),
        ["reshape"] = () => ones(2, 3).reshape(5),
        ["transpose"] = () => ones(2, 3).transpose(0, 4),
        ["permute"] = () => ones(2, 3).permute(0, 0),
        ["expand"] = () => ones(2, 3).expand(4, 5),
        ["unsqueeze"] = () => ones(2, 3).unsqueeze(7),
        ["copy_"] = () => zeros(2, 3).copy_(ones(4, 5)),
        ["mul_"] = () => zeros(2, 3).mul_(ones(4, 5)),
        ["addcmul_"] = () => zeros(2, 3).addcmul_(ones(4, 5), ones(2, 3), 1.0),
        ["vector_norm"] = () => linalg.vector_norm(ones(2, 3), dims: [5]),
        ["norm"] = () => ones(2, 3).norm(5, keepdim: true, p: 2),
        ["repeat_interleave"] = () => ones(2, 3).repeat_interleave(tensor(new long[] { 1, 2, 3 }), dim: 0),
        ["unbind"] = () => ones(2, 3).unbind(4),
        ["roll"] = () => ones(2, 3).roll(1, 5),
        ["layer_norm"] = () => nn.functional.layer_norm(ones(2, 3), [7]),
        ["group_norm"] = () => nn.functional.group_norm(ones(1, 6, 2, 2), 4),
        ["conv2d"] = () => nn.functional.conv2d(ones(1, 3, 8, 8), ones(4, 5, 3, 3)),
        ["interpolate"] = () => nn.functional.interpolate(ones(2, 3), scale_factor: [2.0], mode: InterpolationMode.Bilinear),
        ["adaptive_avg_pool2d"] = () => nn.functional.adaptive_avg_pool2d(ones(3), [2, 2]),
        ["view_as_complex"] = () => torch.view_as_complex(ones(2, 3)),
        ["polar"] = () => torch.polar(ones(2, 3), ones(4, 5)),
        ["embedding"] = () => nn.Embedding(3, 4).call(tensor(new long[] { 9 })),
        ["index_select"] = () => ones(2, 3).index_select(0, tensor(new long[] { 7 })),
        ["split"] = () => ones(2, 3).split([1, 1], 1),
        ["set_"] = () => zeros(2).set_(zeros(new long[] { 2 }, device: new Device(DeviceType.META))),
        ["to"] = () => ones(2, 3).to(new Device(DeviceType.CUDA, 99)),
    };

    [Theory]
    [MemberData(nameof(Ops))]
    public void ADeliberateErrorInsideTheOpIsACatchableException(string op)
    {
        using var scope = NewDisposeScope();
        Exception? caught = null;
        try { Failing[op](); }
        catch (Exception e) { caught = e; }
        Assert.True(caught is not null, $"{op} accepted invalid arguments instead of raising.");
    }

    [SkippableFact]
    public void TheEngineNeverCallsMatmul()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "ZImageSharp.slnx"))) root = root.Parent;
        Skip.If(root is null, "the sources are not beside the test binaries");
        var offenders = Directory.EnumerateFiles(Path.Combine(root!.FullName, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => File.ReadLines(f).Any(line => !line.TrimStart().StartsWith("//", StringComparison.Ordinal)
                && (line.Contains(".matmul(", StringComparison.Ordinal) || line.Contains("torch.matmul", StringComparison.Ordinal))))
            .ToList();
        Assert.True(offenders.Count == 0, "matmul aborts the process on any error; use mm, bmm, linear or einsum in: " + string.Join(", ", offenders));
    }
}
