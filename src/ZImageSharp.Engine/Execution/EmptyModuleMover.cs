using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Execution;

/// <summary>
/// Moves a module whose parameters are all empty to another device and dtype, keeping every <see cref="Parameter"/>
/// object the module holds (so <c>set_</c> can later point them at tensors there). TorchSharp's own
/// <c>module.to(device, dtype)</c> does this for most modules, but in 0.107 it throws for any tree containing a
/// <see cref="ModuleDict{T}"/> ("An item with the same key has already been added. Key: Item"), as the transformer's
/// embedders and final layers are. Such subtrees are walked by hand: children are moved on their own, and the
/// parameters registered directly on a ModuleDict's ancestor get a new native tensor under the same managed object.
/// </summary>
internal static class EmptyModuleMover
{
    // The managed Tensor's pointer to its native tensor; swapping it is PyTorch's swap_tensors, done on the wrapper.
    private static readonly FieldInfo HandleField = typeof(Tensor).GetField("handle", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException("TorchSharp's Tensor has no 'handle' field: this TorchSharp version is not supported.");

    /// <param name="keepsFloat32">Parameter names that stay float32 whatever <paramref name="dtype"/> (null: none).</param>
    public static void Move(nn.Module module, Device device, ScalarType dtype, Func<string, bool>? keepsFloat32 = null)
    {
        if (module.parameters().Any(p => p.numel() != 0))
            throw new InvalidOperationException("Only a module whose parameters are all empty can be moved without copying weights.");
        MoveTree(module, device, dtype);
        if (keepsFloat32 is null) return;
        foreach (var (name, parameter) in module.named_parameters())
            if (keepsFloat32(name)) Swap(parameter, device, ScalarType.Float32);
    }

    /// <summary>Gives every parameter on the meta device (a module built for loading by the plan) an empty CPU tensor
    /// of its dtype, so that <see cref="Move"/> can then place the empty module anywhere.</summary>
    public static void EmptyMetaParameters(nn.Module module)
    {
        foreach (var (_, parameter) in module.named_parameters())
            if (parameter.device_type == DeviceType.META) Swap(parameter, CPU, parameter.dtype);
    }

    private static void MoveTree(nn.Module module, Device device, ScalarType dtype)
    {
        if (!ContainsModuleDict(module))
        {
            module.to(device, dtype);
            return;
        }
        foreach (var (_, child) in module.named_children()) MoveTree(child, device, dtype);
        foreach (var (_, parameter) in module.named_parameters(recurse: false)) Swap(parameter, device, dtype);
    }

    private static bool ContainsModuleDict(nn.Module module) =>
        IsModuleDict(module) || module.named_modules().Any(m => IsModuleDict(m.module));

    private static bool IsModuleDict(nn.Module module)
    {
        for (var type = module.GetType(); type is not null; type = type.BaseType)
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ModuleDict<>)) return true;
        return false;
    }

    /// <summary>Gives <paramref name="parameter"/> a new empty native tensor on <paramref name="device"/>.</summary>
    private static void Swap(Parameter parameter, Device device, ScalarType dtype)
    {
        if (parameter.device_type == device.type && parameter.device_index == device.index && parameter.dtype == dtype) return;
        bool requiresGrad = parameter.requires_grad;
        var replacement = empty(0, dtype, device).DetachFromDisposeScope();
        var old = HandleField.GetValue(parameter)!;
        HandleField.SetValue(parameter, HandleField.GetValue(replacement));
        HandleField.SetValue(replacement, old);
        replacement.Dispose(); // now owns the old native tensor
        parameter.requires_grad = requiresGrad;
    }
}
