using ZImageSharp.Engine.Execution;

namespace ZImageSharp.Engine.Tests.Execution;

public class DeviceThreadTests
{
    [Fact]
    public async Task EveryItemRunsOnTheSameThreadInOrder()
    {
        using var device = new DeviceThread("test-device");
        var order = new List<int>();
        var tasks = Enumerable.Range(0, 20)
            .Select(i => device.Run(() => { order.Add(i); return Environment.CurrentManagedThreadId; }, CancellationToken.None))
            .ToList();
        var threads = await Task.WhenAll(tasks);
        Assert.Single(threads.Distinct());
        Assert.NotEqual(Environment.CurrentManagedThreadId, threads[0]);
        Assert.Equal(Enumerable.Range(0, 20), order);
    }

    [Fact]
    public async Task AnExceptionReachesTheCallerAndTheThreadGoesOn()
    {
        using var device = new DeviceThread("test-device");
        var failed = device.Run<int>(() => throw new InvalidOperationException("boom"), CancellationToken.None);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => failed);
        Assert.Equal("boom", error.Message);
        Assert.Equal(7, await device.Run(() => 7, CancellationToken.None));
    }

    [Fact]
    public async Task WorkCancelledBeforeItStartsNeverRuns()
    {
        using var device = new DeviceThread("test-device");
        using var gate = new ManualResetEventSlim();
        var blocker = device.Run(() => gate.Wait(TimeSpan.FromSeconds(10)), CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        bool ran = false;
        var queued = device.Run(() => ran = true, cancel.Token);
        cancel.Cancel();
        gate.Set();
        await blocker;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.False(ran);
        Assert.True(queued.IsCanceled);
    }

    [Fact]
    public async Task CancellationInsideTheWorkCancelsTheTask()
    {
        using var device = new DeviceThread("test-device");
        using var cancel = new CancellationTokenSource();
        var task = device.Run<int>(() => { cancel.Cancel(); cancel.Token.ThrowIfCancellationRequested(); return 1; }, cancel.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        Assert.True(task.IsCanceled);
    }
}
