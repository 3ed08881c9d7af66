using TorchSharp;
using ZImageSharp.Engine.Models.Transformer;

namespace ZImageSharp.Engine.Execution;

/// <summary>How a block's weights reach the device when it runs.</summary>
public enum BlockResidence
{
    /// <summary>Loaded on the device for the whole phase; the streamer leaves it alone.</summary>
    Resident,
    /// <summary>Masters kept on the device (fp8): cast to the compute dtype just before the block, freed after it.</summary>
    DeviceMasters,
    /// <summary>Copied from pinned host memory just in time, the next one prefetched while this one computes.</summary>
    Streamed,
}

/// <summary>
/// Runs a model's blocks with some resident on the device and the rest streamed: installed as the model's block hook,
/// it points each streamed block's parameters at freshly copied device tensors just before the block runs, starts
/// copying the next streamed block (wrapping around to the first, for the next forward pass) so copy and compute
/// overlap, and frees the block's copies right after it. At most two streamed blocks are on the device at a time:
/// the one computing and the one being copied.
/// </summary>
public sealed class BlockStreamer : IBlockHook
{
    private readonly IReadOnlyList<ModuleResidency> _blocks;
    private readonly BlockResidence[] _residence;
    private readonly int[] _streamed;
    private (int Index, StagedWeights Weights)? _pending;

    internal BlockStreamer(IReadOnlyList<ModuleResidency> blocks, IReadOnlyList<BlockResidence> residence)
    {
        if (blocks.Count != residence.Count)
            throw new ArgumentException($"Got {blocks.Count} blocks but {residence.Count} residences.", nameof(residence));
        _blocks = blocks;
        _residence = residence.ToArray();
        _streamed = Enumerable.Range(0, blocks.Count).Where(i => _residence[i] == BlockResidence.Streamed).ToArray();
    }

    public IReadOnlyList<BlockResidence> Residence => _residence;

    /// <summary>Streamed blocks whose copy had been prefetched when they were reached.</summary>
    public long PrefetchHits { get; private set; }

    /// <summary>Streamed blocks copied only when reached (the first of a phase unless <see cref="Prime"/> ran, or after
    /// an out-of-order call).</summary>
    public long PrefetchMisses { get; private set; }

    /// <summary>The most streamed blocks held on the device at once since construction (loaded or in flight).</summary>
    public int PeakStreamedBlocksOnDevice { get; private set; }

    /// <summary>Bytes of the prefetch in flight (not yet any block's parameters).</summary>
    public long InFlightBytes => _pending?.Weights.Bytes ?? 0;

    /// <summary>Starts copying the first streamed block, so the first block of a phase does not wait for its copy.</summary>
    public void Prime()
    {
        if (_streamed.Length > 0) Prefetch(_streamed[0]);
    }

    public void BeforeBlock(int index, torch.nn.Module block)
    {
        CheckBlock(index, block);
        switch (_residence[index])
        {
            case BlockResidence.DeviceMasters:
                _blocks[index].Load();
                break;
            case BlockResidence.Streamed when !_blocks[index].IsLoaded:
                StagedWeights staged;
                if (_pending is { } pending && pending.Index == index)
                {
                    staged = pending.Weights;
                    _pending = null;
                    PrefetchHits++;
                }
                else
                {
                    DropPending();
                    staged = _blocks[index].Stage();
                    PrefetchMisses++;
                }
                _blocks[index].Activate(staged);
                break;
        }
        if (NextStreamed(index) is int next && !_blocks[next].IsLoaded) Prefetch(next);
        PeakStreamedBlocksOnDevice = Math.Max(PeakStreamedBlocksOnDevice, StreamedBlocksOnDevice);
    }

    public void AfterBlock(int index, torch.nn.Module block)
    {
        CheckBlock(index, block);
        if (_residence[index] != BlockResidence.Resident) _blocks[index].Release();
    }

    /// <summary>Frees every streamed or per-use copy, including a prefetch in flight (end of a phase, or after an
    /// exception inside a block). Resident blocks and device masters stay.</summary>
    public void Reset()
    {
        DropPending();
        for (int i = 0; i < _blocks.Count; i++)
            if (_residence[i] != BlockResidence.Resident) _blocks[i].Release();
    }

    private int StreamedBlocksOnDevice => (_pending is null ? 0 : 1) + _streamed.Count(i => _blocks[i].IsLoaded);

    private void Prefetch(int index)
    {
        if (_pending is { } pending)
        {
            if (pending.Index == index) return;
            DropPending();
        }
        if (_blocks[index].IsLoaded) return;
        _pending = (index, _blocks[index].Stage());
    }

    private void DropPending()
    {
        _pending?.Weights.Dispose();
        _pending = null;
    }

    /// <summary>The first streamed block after <paramref name="index"/>, wrapping around; null when none.</summary>
    private int? NextStreamed(int index)
    {
        if (_streamed.Length == 0) return null;
        foreach (int i in _streamed)
            if (i > index) return i;
        return _streamed[0];
    }

    private void CheckBlock(int index, torch.nn.Module block)
    {
        if (index < 0 || index >= _blocks.Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"The streamer knows blocks 0 … {_blocks.Count - 1}.");
        if (!ReferenceEquals(_blocks[index].Module, block))
            throw new InvalidOperationException($"Block {index} is not the module this streamer placed at that index.");
    }
}
