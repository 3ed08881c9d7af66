using TorchSharp;

namespace ZImageSharp.Engine.Models.Transformer;

/// <summary>
/// Called around every streamable block as the transformer runs it, so a weight streamer can bring the block's
/// weights onto the device just in time (and prefetch the next) and release them afterwards. <c>index</c> is the
/// block's position in <see cref="ZImageTransformer.StreamableBlocks"/>, which is execution order.
/// </summary>
public interface IBlockHook
{
    void BeforeBlock(int index, torch.nn.Module block);
    void AfterBlock(int index, torch.nn.Module block);
}

/// <summary>A block whose weights can be streamed as a unit; <see cref="Prefix"/> is its checkpoint key prefix
/// (e.g. "layers.7"), so its tensors are the keys starting with <c>Prefix + "."</c>.</summary>
public sealed record StreamableBlock(string Prefix, torch.nn.Module Module);
