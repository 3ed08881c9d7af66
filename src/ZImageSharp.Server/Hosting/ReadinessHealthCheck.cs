using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Hosting;

/// <summary>Ready = history answers, the workers are taking jobs, and the server is not shutting down.
/// (Liveness has no checks: a process that can answer is alive.)</summary>
internal sealed class ReadinessHealthCheck(IJobStore store, GenerationWorker worker, IHostApplicationLifetime lifetime) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
            return HealthCheckResult.Unhealthy("The server is shutting down.");
        if (!worker.IsRunning)
            return HealthCheckResult.Unhealthy("The generation workers are not running.");
        try
        {
            await store.PingAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy("The history database does not answer.", e);
        }
        return HealthCheckResult.Healthy();
    }
}
