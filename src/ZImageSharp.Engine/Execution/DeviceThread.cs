using System.Collections.Concurrent;

namespace ZImageSharp.Engine.Execution;

/// <summary>
/// One long-lived thread that runs the engine's generations in order. libtorch keeps per-thread state that is
/// expensive to build: cuDNN attention execution plans, cuBLAS handles and workspaces. A fresh thread per generation
/// rebuilt them every time; on the H100 that was about 190 ms in the first denoise step at 1024² (docs/benchmarks.md).
/// </summary>
public sealed class DeviceThread : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;

    public DeviceThread(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Queues <paramref name="body"/> behind earlier work; a token cancelled before it starts cancels it.</summary>
    public Task<T> Run<T>(Func<T> body, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            if (cancellationToken.IsCancellationRequested)
            {
                completion.SetCanceled(cancellationToken);
                return;
            }
            try { completion.SetResult(body()); }
            catch (OperationCanceledException e) when (e.CancellationToken == cancellationToken) { completion.SetCanceled(cancellationToken); }
            catch (Exception e) { completion.SetException(e); }
        }, CancellationToken.None);
        return completion.Task;
    }

    private void Loop()
    {
        foreach (var work in _work.GetConsumingEnumerable()) work();
    }

    /// <summary>Lets queued work finish, then ends the thread.</summary>
    public void Dispose()
    {
        _work.CompleteAdding();
        if (Thread.CurrentThread != _thread) _thread.Join();
        _work.Dispose();
    }
}
