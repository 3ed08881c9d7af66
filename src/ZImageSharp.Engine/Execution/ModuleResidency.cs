using TorchSharp;
using TorchSharp.Modules;
using ZImageSharp.Engine.Weights;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Execution;

/// <summary>
/// Owns the host copies ("masters") of a set of parameters of one module and moves them between host and device by
/// re-pointing the existing <see cref="Parameter"/> objects with <c>set_</c>, so the module itself is never rebuilt.
/// </summary>
/// <remarks>
/// libtorch's <c>set_</c> refuses a storage on another device ("the devices must match") and keeps the parameter's
/// dtype whatever the source's, so a parameter can never point at its host master directly. Instead every parameter
/// lives on the compute device in the compute dtype: loaded, it points at a device tensor; released, at an empty
/// tensor (no memory). Masters are bf16 (the module's own dtype) or, for the tensors
/// <see cref="Models.ModelMemoryDescription.StoresAsFp8"/> allows, fp8 e4m3; they are pinned when the device is CUDA so copies
/// run asynchronously at full bandwidth. Everything runs under <c>no_grad</c> with <c>requires_grad = false</c>.
/// <para>A residency over a weight file (<see cref="WeightFile"/>) may hold no masters at all: a load then reads each
/// tensor from the file straight into its device tensor, and masters are made from the file only when a plan needs
/// them (streamed blocks, a component loaded per phase). The file is also what makes fp8 storage reversible: going
/// back to bf16 reads the bf16 weights again instead of widening the fp8-rounded ones.</para>
/// </remarks>
public sealed class ModuleResidency : IDisposable
{
    internal const ScalarType Fp8 = SafetensorsDType.Float8E4M3;

    private readonly nn.Module _root;
    private readonly Entry[] _entries;
    private readonly WeightFile? _file;
    private WeightCopier _copier;
    private bool _storeFp8;
    private bool _disposed;

    /// <param name="file">Where the weights can be read again; null when the module's tensors are the only copy (they
    /// become the masters). With a file the module's parameters may be on the meta device: nothing is read here.</param>
    internal ModuleResidency(nn.Module root, nn.Module unit, IEnumerable<string> names, ResidencyTarget target,
        WeightCopier copier, Func<string, long[], bool> fp8Eligible, bool storeFp8, Func<string, bool>? keepsFloat32 = null,
        WeightFile? file = null)
    {
        _root = root;
        _file = file;
        _storeFp8 = storeFp8;
        Module = unit;
        Target = target;
        _copier = copier;
        var parameters = root.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        using var noGrad = no_grad();
        _entries = names.Select(name =>
        {
            var parameter = parameters[name];
            bool float32 = keepsFloat32?.Invoke(name) ?? false;
            var entry = new Entry(name, parameter.shape, !float32 && fp8Eligible(name, parameter.shape), float32) { Parameter = parameter };
            parameter.requires_grad = false;
            if (file is not null) return entry; // masters come from the file when a plan needs them
            entry.Host = MakeMaster(parameter, float32 ? ScalarType.Float32 : parameter.dtype, target.IsCuda);
            using var placeholder = Placeholder(parameter.dtype, parameter.device);
            Repoint(parameter, placeholder);
            return entry;
        }).ToArray();
        if (file is null && storeFp8)
        {
            // Through UseStorage, so the exact masters are kept for a later return to bf16.
            _storeFp8 = false;
            UseStorage(true);
        }
    }

    /// <summary>True when the weights can be read again from a file (so masters are optional).</summary>
    public bool HasFile => _file is not null;

    /// <summary>True when every parameter has a host master.</summary>
    public bool HasHostMasters => _entries.All(e => e.Host is not null);

    /// <summary>
    /// Takes over every parameter of <paramref name="module"/> (which must hold its weights in host or device memory,
    /// not on the meta device) and moves the now empty module to <paramref name="target"/>. Afterwards the module
    /// can run only between <see cref="Load"/> and <see cref="Release"/>. Do not call <c>module.to(...)</c> again.
    /// </summary>
    /// <param name="fp8Eligible">Parameter name and shape → whether its master may be stored as fp8 (null: none).</param>
    /// <param name="keepsFloat32">Parameter names that stay float32 in every compute dtype (null: none).</param>
    public static ModuleResidency Adopt(nn.Module module, ResidencyTarget target, Func<string, long[], bool>? fp8Eligible = null,
        bool storeFp8 = false, Func<string, bool>? keepsFloat32 = null)
    {
        var names = module.named_parameters().Select(p => p.name).ToList();
        var copier = WeightCopier.For(target);
        var residency = new ModuleResidency(module, module, names, target, copier, fp8Eligible ?? ((_, _) => false), storeFp8, keepsFloat32)
        {
            _ownsCopier = true,
        };
        EmptyModuleMover.Move(module, target.Device, target.ComputeDType, keepsFloat32);
        residency.Rebind(target, copier);
        return residency;
    }

    private bool _ownsCopier;

    /// <summary>The module these parameters belong to (a whole model, or one of its blocks).</summary>
    public nn.Module Module { get; }

    public ResidencyTarget Target { get; private set; }

    /// <summary>True while every parameter points at a usable tensor on the target device.</summary>
    public bool IsLoaded
    {
        get => _isLoaded;
        private set
        {
            if (value && !_isLoaded) LoadCount++;
            _isLoaded = value;
        }
    }
    private bool _isLoaded;

    /// <summary>How many times the parameters were loaded: a LoRA merged into one load is gone in the next.</summary>
    public long LoadCount { get; private set; }

    /// <summary>True when the loaded parameter holds its own device copy, not an alias of a master (changing it in
    /// place would change the master).</summary>
    internal bool OwnsLoadedCopy(string name) => IsLoaded && _entries.First(e => e.Name == name).LoadedBytes > 0;

    /// <summary>True while the masters also have copies on the device (resident fp8: cast per use, no host traffic).</summary>
    public bool MastersOnDevice { get; private set; }

    /// <summary>True when the fp8-eligible masters are (or, read from the file, will be) stored as fp8.</summary>
    public bool StoresFp8 => _storeFp8 && _entries.Any(e => e.Fp8Eligible);

    public IReadOnlyList<string> ParameterNames => _entries.Select(e => e.Name).ToList();

    /// <summary>Bytes of the host masters.</summary>
    public long HostBytes => _entries.Sum(e => e.Host is null ? 0 : Bytes(e.Host) + (e.Original is null ? 0 : Bytes(e.Original)));

    /// <summary>Bytes this residency holds on the device: device masters plus loaded tensors that are not aliases of them.</summary>
    public long DeviceBytes => _entries.Sum(e => (e.DeviceMaster is null ? 0 : Bytes(e.DeviceMaster)) + e.LoadedBytes);

    /// <summary>Bytes of the device masters alone.</summary>
    public long DeviceMastersBytes => _entries.Sum(e => e.DeviceMaster is null ? 0 : Bytes(e.DeviceMaster));

    /// <summary>Bytes of one full load in the compute dtype (what <see cref="Load"/> adds without device masters).</summary>
    public long ComputeBytes => _entries.Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b) * ElementSize(DTypeOf(e)));

    /// <summary>Points every parameter at a device tensor in the compute dtype: from the device masters when present
    /// (a cast for fp8, an alias otherwise), else copied from the host masters. No-op when loaded.</summary>
    public void Load()
    {
        ThrowIfDisposed();
        if (IsLoaded) return;
        using var noGrad = no_grad();
        if (MastersOnDevice || Target.IsHost)
        {
            if (!MastersOnDevice) EnsureHostMasters();
            foreach (var e in _entries) PointAt(e, MastersOnDevice ? e.DeviceMaster! : e.Host!);
            IsLoaded = true;
        }
        else if (HasHostMasters)
        {
            Activate(Stage());
        }
        else
        {
            // No masters: each tensor goes from the file into its device tensor in the compute dtype.
            foreach (var e in _entries)
            {
                using var loaded = ReadFromFile(e, DTypeOf(e));
                PointAt(e, loaded);
            }
            IsLoaded = true;
        }
    }

    /// <summary>Points every parameter back at an empty tensor, freeing the device copies. No-op when released.</summary>
    public void Release()
    {
        if (!IsLoaded) return;
        using var noGrad = no_grad();
        foreach (var e in _entries)
        {
            using var placeholder = Placeholder(DTypeOf(e), Target.Device);
            Repoint(e.Parameter, placeholder);
            e.LoadedBytes = 0;
        }
        IsLoaded = false;
    }

    /// <summary>Copies the masters to the device in their storage dtype (fp8 stays fp8). No-op when already there.</summary>
    public void PlaceMastersOnDevice()
    {
        ThrowIfDisposed();
        if (MastersOnDevice) return;
        using var noGrad = no_grad();
        if (Target.IsHost)
        {
            EnsureHostMasters();
            foreach (var e in _entries) e.DeviceMaster = e.Host!.detach().DetachFromDisposeScope();
        }
        else if (!HasHostMasters)
        {
            foreach (var e in _entries) e.DeviceMaster = ReadFromFile(e, StorageDTypeOf(e));
        }
        else
        {
            using var staged = Stage();
            _copier.MakeComputeWait(staged.Ticket);
            for (int i = 0; i < _entries.Length; i++) _entries[i].DeviceMaster = staged.Take(i);
        }
        MastersOnDevice = true;
    }

    /// <summary>Releases the parameters and frees the device masters.</summary>
    public void RemoveMastersFromDevice()
    {
        if (!MastersOnDevice) return;
        Release();
        foreach (var e in _entries)
        {
            e.DeviceMaster!.Dispose();
            e.DeviceMaster = null;
        }
        MastersOnDevice = false;
    }

    /// <summary>
    /// Stores the fp8-eligible masters as fp8 (half the host memory and copy bytes), or back as the compute dtype.
    /// Reversible: back to bf16, masters are read from the file again (or taken from the original copy a module without
    /// a file keeps while it is fp8), so a later bf16 plan computes with exactly the bf16 weights. Loaded parameters keep
    /// their current tensors until the next load.
    /// </summary>
    public void UseStorage(bool fp8)
    {
        ThrowIfDisposed();
        if (fp8 == _storeFp8) return;
        if (MastersOnDevice)
            throw new InvalidOperationException("Remove the device masters before changing how the masters are stored.");
        _storeFp8 = fp8;
        if (_entries.Any(e => e.Host is not null)) EnsureHostMasters();
    }

    /// <summary>Makes a host master of every parameter in the storage dtype (pinned on CUDA), from the file where
    /// there is none or its dtype changed. No-op when they already exist.</summary>
    public void EnsureHostMasters()
    {
        ThrowIfDisposed();
        using var noGrad = no_grad();
        bool synchronized = false;
        foreach (var e in _entries)
        {
            var wanted = StorageDTypeOf(e);
            if (e.Host is { } host && (host.dtype == wanted
                // Without a file a wider master (float32 weights of a module built so) is kept and cast per load.
                || (_file is null && host.dtype != Fp8 && wanted != Fp8))) continue;
            if (!synchronized)
            {
                _copier.Synchronize(); // a copy the compute stream waits for may still be reading the old master
                synchronized = true;
            }
            var old = e.Host;
            if (old is not null && wanted == Fp8)
            {
                e.Host = MakeMaster(old, Fp8, Target.IsCuda);
                // Without a file the wider master is the only exact copy: keep it for a return to bf16.
                if (_file is null) e.Original = old;
                else PinnedHostMemory.Free(old);
            }
            else if (e.Original is { } original && wanted != Fp8)
            {
                e.Host = MakeMaster(original, original.dtype, Target.IsCuda);
                PinnedHostMemory.Free(original);
                e.Original = null;
                PinnedHostMemory.Free(old);
            }
            else if (_file is not null)
            {
                PinnedHostMemory.Free(old);
                e.Host = null;
                // Straight into the pinned master (through the file's staging buffer): no second full-size copy.
                var master = NewMaster(e.Shape, wanted, Target.IsCuda);
                try { _file.ReadInto(e.Name, master); }
                catch { PinnedHostMemory.Free(master); throw; }
                e.Host = master;
            }
            else
            {
                throw new InvalidOperationException($"Parameter '{e.Name}' has no master of {wanted} and no file to read it from.");
            }
        }
    }

    /// <summary>Frees the host masters of a residency over a file (its device copies stay). No-op without a file:
    /// then the masters are the only copy. Only when the parameters do not alias them (a host target).</summary>
    public void DropHostMasters()
    {
        ThrowIfDisposed();
        if (_file is null || Target.IsHost || _entries.All(e => e.Host is null)) return;
        _copier.Synchronize();
        foreach (var e in _entries)
        {
            PinnedHostMemory.Free(e.Host);
            e.Host = null;
        }
    }

    /// <summary>Allocates device tensors in the masters' dtypes (on the compute stream) and starts copying into them.</summary>
    internal StagedWeights Stage()
    {
        ThrowIfDisposed();
        using var noGrad = no_grad();
        // Detached: the streamer stages inside a model's forward, whose dispose scope must not free a prefetch.
        if (!HasHostMasters)
            throw new InvalidOperationException("Streaming needs host masters: call EnsureHostMasters first (the plan keeps them for streamed blocks).");
        var destinations = _entries.Select(e => empty(e.Shape, e.Host!.dtype, Target.Device).DetachFromDisposeScope()).ToArray();
        try
        {
            var ticket = _copier.Start(_entries.Select(e => e.Host!).ToArray(), destinations);
            return new StagedWeights(destinations, ticket, _copier);
        }
        catch
        {
            foreach (var d in destinations) d.Dispose();
            throw;
        }
    }

    /// <summary>Orders compute after the staged copy, casts fp8 to the compute dtype there, and points the parameters
    /// at the result. Consumes <paramref name="staged"/>.</summary>
    internal void Activate(StagedWeights staged)
    {
        using var noGrad = no_grad();
        using (staged)
        {
            _copier.MakeComputeWait(staged.Ticket);
            for (int i = 0; i < _entries.Length; i++)
            {
                // Each fp8 staging tensor is freed right after its cast, so a block never holds both copies entirely.
                using var copied = staged.Take(i);
                PointAt(_entries[i], copied);
            }
        }
        IsLoaded = true;
    }

    /// <summary>After <c>module.to(...)</c> replaced the (empty) parameter objects: binds the new ones, and pins the
    /// masters when the target became CUDA. Only while released and without device masters.</summary>
    internal void Rebind(ResidencyTarget target, WeightCopier copier)
    {
        if (IsLoaded || MastersOnDevice)
            throw new InvalidOperationException("Release the parameters and remove the device masters before changing the target.");
        var parameters = _root.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        using var noGrad = no_grad();
        _copier.Synchronize();
        foreach (var e in _entries)
        {
            var parameter = parameters[e.Name];
            if (parameter.device_type != target.Device.type || parameter.dtype != (e.KeepsFloat32 ? ScalarType.Float32 : target.ComputeDType))
                throw new InvalidOperationException(
                    $"Parameter '{e.Name}' is {parameter.dtype} on {parameter.device}; the module was expected to be moved to {target}.");
            parameter.requires_grad = false;
            e.Parameter = parameter;
            if (target.IsCuda && e.Host is not null && !PinnedHostMemory.IsRegistered(e.Host))
            {
                var old = e.Host;
                e.Host = MakeMaster(old, old.dtype, pin: true);
                PinnedHostMemory.Free(old);
            }
        }
        Target = target;
        _copier = copier;
    }

    public void Dispose()
    {
        if (_disposed) return;
        RemoveMastersFromDevice();
        Release();
        _copier.Synchronize();
        foreach (var e in _entries)
        {
            PinnedHostMemory.Free(e.Host);
            PinnedHostMemory.Free(e.Original);
        }
        if (_ownsCopier) _copier.Dispose();
        _disposed = true;
    }

    /// <summary>The dtype a parameter computes in: the target's, or float32 for the islands kept in float32.</summary>
    private ScalarType DTypeOf(Entry e) => e.KeepsFloat32 ? ScalarType.Float32 : Target.ComputeDType;

    /// <summary>The dtype a master of the parameter is stored in under the current storage choice.</summary>
    private ScalarType StorageDTypeOf(Entry e) => e.Fp8Eligible && _storeFp8 ? Fp8 : DTypeOf(e);

    /// <summary>A new tensor of <paramref name="dtype"/> on <paramref name="device"/> (the target's by default) holding
    /// the parameter's weights as read from the file (converted on the way).</summary>
    private Tensor ReadFromFile(Entry e, ScalarType dtype, Device? device = null)
    {
        var file = _file ?? throw new InvalidOperationException($"Parameter '{e.Name}' has no master and no file to read it from.");
        var tensor = empty(e.Shape, dtype, device ?? Target.Device).DetachFromDisposeScope();
        try
        {
            file.ReadInto(e.Name, tensor);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    private void PointAt(Entry e, Tensor source)
    {
        if (source.dtype == DTypeOf(e))
        {
            Repoint(e.Parameter, source);
            // Sharing a master's storage costs nothing extra.
            bool alias = ReferenceEquals(source, e.DeviceMaster) || ReferenceEquals(source, e.Host);
            e.LoadedBytes = alias ? 0 : Bytes(source);
        }
        else
        {
            using var cast = source.to(DTypeOf(e), Target.Device);
            Repoint(e.Parameter, cast);
            e.LoadedBytes = Bytes(cast);
        }
    }

    private static Tensor MakeMaster(Tensor source, ScalarType dtype, bool pin)
    {
        if (source.device_type == DeviceType.META)
            throw new InvalidOperationException("A parameter is on the meta device: build the module on the CPU and load its weights before placing it.");
        if (pin) return PinnedHostMemory.CopyOf(source, dtype); // always a copy: never an alias of a registered source
        using var scope = NewDisposeScope();
        return source.detach().to(dtype, CPU).contiguous().DetachFromDisposeScope();
    }

    private static Tensor Placeholder(ScalarType dtype, Device device) => empty(0, dtype, device);

    /// <summary>An uninitialised host tensor, pinned (exactly its size, <see cref="PinnedHostMemory"/>) when <paramref name="pin"/>.</summary>
    private static Tensor NewMaster(long[] shape, ScalarType dtype, bool pin)
    {
        return pin ? PinnedHostMemory.Allocate(shape, dtype) : empty(shape, dtype, CPU).DetachFromDisposeScope();
    }

    /// <summary>Re-points a parameter at <paramref name="source"/>'s storage (same device and dtype: see the remarks).</summary>
    private static void Repoint(Parameter parameter, Tensor source)
    {
        // TorchSharp 0.107 returns the parameter itself from in-place ops; a separate wrapper would only be a handle.
        var result = parameter.set_(source);
        if (!ReferenceEquals(result, parameter)) result.Dispose();
    }

    internal static long Bytes(Tensor t) => t.numel() * t.ElementSize;

    private static long ElementSize(ScalarType dtype)
    {
        using var probe = empty(0, dtype);
        return probe.ElementSize;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private sealed class Entry(string name, long[] shape, bool fp8Eligible, bool keepsFloat32)
    {
        public string Name { get; } = name;
        public long[] Shape { get; } = shape;
        public bool Fp8Eligible { get; } = fp8Eligible;
        public bool KeepsFloat32 { get; } = keepsFloat32;
        public Parameter Parameter { get; set; } = null!;
        /// <summary>The host master in the storage dtype; null when none is held (read from the file instead).</summary>
        public Tensor? Host { get; set; }
        /// <summary>Without a file, the compute-dtype master kept while <see cref="Host"/> is fp8.</summary>
        public Tensor? Original { get; set; }
        public Tensor? DeviceMaster { get; set; }
        public long LoadedBytes { get; set; }
    }
}

/// <summary>Device tensors of one module in flight from the host, with the ticket of their copy.</summary>
internal sealed class StagedWeights(Tensor[] tensors, CopyTicket ticket, WeightCopier copier) : IDisposable
{
    private readonly Tensor?[] _tensors = tensors;

    public CopyTicket Ticket { get; } = ticket;

    public long Bytes => _tensors.Sum(t => t is null ? 0 : ModuleResidency.Bytes(t));

    /// <summary>Hands tensor <paramref name="index"/> to the caller (who disposes it).</summary>
    public Tensor Take(int index)
    {
        var t = _tensors[index] ?? throw new InvalidOperationException($"Staged tensor {index} was already taken.");
        _tensors[index] = null;
        return t;
    }

    public void Dispose()
    {
        // A copy nobody waited for may still be writing: let it finish before its destination memory is reused.
        if (Ticket.Done is not null) copier.Synchronize();
        Ticket.Dispose();
        for (int i = 0; i < _tensors.Length; i++)
        {
            _tensors[i]?.Dispose();
            _tensors[i] = null;
        }
    }
}
