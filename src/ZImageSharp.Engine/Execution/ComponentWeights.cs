using TorchSharp;
using ZImageSharp.Engine.Models;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Execution;

/// <summary>
/// One component's module split into the units weights move in: a residency per streamable block and one for the
/// rest (embeddings, final layers; the whole model when it has no blocks). Owns all host masters of the module.
/// </summary>
internal sealed class ComponentWeights : IDisposable
{
    private readonly Action<IBlockHook?> _installHook;

    private ComponentWeights(Component component, torch.nn.Module module, ModuleResidency rest,
        IReadOnlyList<ModuleResidency> blocks, IReadOnlyList<string> prefixes, Action<IBlockHook?> installHook, ResidencyTarget target)
    {
        Component = component;
        Module = module;
        Rest = rest;
        Blocks = blocks;
        BlockPrefixes = prefixes;
        _installHook = installHook;
        Target = target;
    }

    public Component Component { get; }
    public torch.nn.Module Module { get; }
    public ModuleResidency Rest { get; }
    public IReadOnlyList<ModuleResidency> Blocks { get; }
    public IReadOnlyList<string> BlockPrefixes { get; }
    public ResidencyTarget Target { get; private set; }

    /// <summary>The component's weight file when its weights can be read again; null for models only in memory.</summary>
    public WeightFile? File { get; private init; }

    public IEnumerable<ModuleResidency> All => Blocks.Prepend(Rest);

    public long DeviceBytes => All.Sum(r => r.DeviceBytes);
    public long HostBytes => All.Sum(r => r.HostBytes);
    public bool StoresFp8 => All.Any(r => r.StoresFp8);

    /// <summary>Takes the module's weights as host masters (fp8 where the policy allows and <paramref name="storeFp8"/>)
    /// and moves the emptied module to <paramref name="target"/>. With a <paramref name="file"/> the module may be on
    /// the meta device and nothing is read: every tensor comes from the file when a placement needs it.</summary>
    public static ComponentWeights Adopt(Component component, torch.nn.Module module, IReadOnlyList<StreamableBlock> blocks,
        Action<IBlockHook?> installHook, ResidencyTarget target, WeightCopier copier, bool storeFp8, WeightFile? file = null)
    {
        bool Fp8Eligible(string key, long[] shape) => ModelMemoryDescription.StoresAsFp8(component, key, shape.Length);
        bool KeepsFloat32(string key) => ModelMemoryDescription.KeepsFloat32(component, key);
        var names = module.named_parameters().Select(p => p.name).ToList();
        var blockNames = blocks.Select(b => names.Where(n => n.StartsWith(b.Prefix + ".", StringComparison.Ordinal)).ToList()).ToList();
        var inBlocks = blockNames.SelectMany(n => n).ToHashSet(StringComparer.Ordinal);
        var blockResidencies = blocks.Select((b, i) =>
            new ModuleResidency(module, b.Module, blockNames[i], target, copier, Fp8Eligible, storeFp8, KeepsFloat32, file)).ToList();
        var rest = new ModuleResidency(module, module, names.Where(n => !inBlocks.Contains(n)), target, copier, Fp8Eligible, storeFp8, KeepsFloat32, file);
        var weights = new ComponentWeights(component, module, rest, blockResidencies, blocks.Select(b => b.Prefix).ToList(), installHook, target)
        {
            File = file,
        };
        if (file is not null) EmptyModuleMover.EmptyMetaParameters(module);
        weights.MoveModule(target, copier);
        return weights;
    }

    public void InstallHook(IBlockHook? hook) => _installHook(hook);

    /// <summary>Releases everything from the device.</summary>
    public void ReleaseAll()
    {
        foreach (var r in All)
        {
            r.Release();
            r.RemoveMastersFromDevice();
        }
    }

    /// <summary>Moves the (released) module to another device or compute dtype; the host masters stay as they are.</summary>
    public void Retarget(ResidencyTarget target, WeightCopier copier)
    {
        ReleaseAll();
        if (!target.SameAs(Target)) MoveModule(target, copier);
    }

    /// <summary>fp8 or compute-dtype masters from now on (reversible: see <see cref="ModuleResidency.UseStorage"/>).</summary>
    public void UseStorage(bool fp8)
    {
        foreach (var r in All) r.UseStorage(fp8);
    }

    private void MoveModule(ResidencyTarget target, WeightCopier copier)
    {
        // Every parameter is empty here, so the move copies no data.
        EmptyModuleMover.Move(Module, target.Device, target.ComputeDType, key => ModelMemoryDescription.KeepsFloat32(Component, key));
        foreach (var r in All) r.Rebind(target, copier);
        Target = target;
    }

    public void Dispose()
    {
        InstallHook(null);
        foreach (var r in All) r.Dispose();
    }
}
