using System.Runtime.CompilerServices;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Common;

/// <summary>Adds something to a Linear's output computed from its input (a LoRA applied at runtime, Engine/Lora).</summary>
public interface ILinearAdapter
{
    /// <summary>Adds to <paramref name="output"/> (the layer's own fresh result, in place) from <paramref name="input"/>.</summary>
    void AddTo(Tensor output, Tensor input);
}

/// <summary>
/// The one way the models call a Linear that a LoRA may target: the layer's forward, then the adapter installed for
/// that layer object, if any. Keyed by the module object (the table holds it weakly), so models never share adapters;
/// with none installed anywhere the cost is one volatile read.
/// </summary>
public static class LinearAdapters
{
    private static readonly ConditionalWeakTable<Linear, ILinearAdapter> Table = new();
    private static int _installed;

    public static Tensor Forward(Linear layer, Tensor input)
    {
        var output = layer.forward(input);
        AddTo(layer, output, input);
        return output;
    }

    /// <summary>For a Linear computed another way (a float32 island): adds the layer's adapter to its result.</summary>
    public static void AddTo(Linear layer, Tensor output, Tensor input)
    {
        if (Volatile.Read(ref _installed) == 0 || !Table.TryGetValue(layer, out var adapter)) return;
        adapter.AddTo(output, input);
    }

    /// <summary>Installs (or with null removes) the adapter of <paramref name="layer"/>.</summary>
    public static void Set(Linear layer, ILinearAdapter? adapter)
    {
        lock (Table)
        {
            bool had = Table.TryGetValue(layer, out _);
            if (adapter is null)
            {
                if (had && Table.Remove(layer)) Interlocked.Decrement(ref _installed);
                return;
            }
            Table.AddOrUpdate(layer, adapter);
            if (!had) Interlocked.Increment(ref _installed);
        }
    }

    public static ILinearAdapter? Of(Linear layer) => Table.TryGetValue(layer, out var a) ? a : null;
}
