using System.Diagnostics;
using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Native;
using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Pipeline;

/// <summary>What the engine does when a phase runs out of memory: degrade the plan one rung for that phase and say
/// whether to retry. Returning false gives up with the caller's error.</summary>
public delegate bool OutOfMemoryHandler(GenerationPhase phase, Exception error, int attempt);

/// <summary>
/// Runs one phase: times it on a synchronized clock, records the device's peak allocation inside it, forces injected
/// faults, and on an out-of-memory error frees what the attempt held and retries after the handler degraded the plan.
/// </summary>
public sealed class PhaseRunner(ComputeDevice device, IFaultInjector faults, OutOfMemoryHandler onOutOfMemory, int maxAttempts)
{
    private readonly List<PhaseTiming> _timings = [];

    public IReadOnlyList<PhaseTiming> Timings => _timings;
    public int Recoveries { get; private set; }

    public T Run<T>(GenerationPhase phase, Func<T> body)
    {
        for (int attempt = 1; ; attempt++)
        {
            device.Memory?.ResetPeak();
            var clock = Stopwatch.StartNew();
            try
            {
                T result;
                using (var scope = torch.NewDisposeScope())
                {
                    if (phase is GenerationPhase.Encode or GenerationPhase.Denoise or GenerationPhase.Decode)
                        faults.At(FaultPoints.For(phase));
                    result = body();
                    if (result is torch.Tensor t) t.MoveToOuterDisposeScope();
                    else if (result is IEnumerable<torch.Tensor> many) foreach (var x in many) x.MoveToOuterDisposeScope();
                }
                Synchronize();
                long peak = device.Memory?.Pool().PeakAllocatedBytes ?? 0;
                _timings.Add(new PhaseTiming(phase, clock.Elapsed, peak));
                return result;
            }
            catch (Exception e) when (OutOfMemory.IsOutOfMemory(e))
            {
                // The dispose scope already freed the attempt's tensors; return the memory to the device before retrying.
                device.Memory?.Trim();
                if (attempt >= maxAttempts || !onOutOfMemory(phase, e, attempt))
                    throw new ZImageException(ErrorCode.OutOfMemory,
                        $"The {phase.ToString().ToLowerInvariant()} phase ran out of device memory after {attempt} attempt(s) and no leaner plan is left.", e);
                Recoveries++;
            }
        }
    }

    private void Synchronize()
    {
        if (device.IsCuda) torch.cuda.synchronize(device.Device);
    }
}
