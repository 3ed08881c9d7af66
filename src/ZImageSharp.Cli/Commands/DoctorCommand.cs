using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Engine.Cuda;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Native;
using ZImageSharp.Options;

namespace ZImageSharp.Cli.Commands;

internal sealed class DoctorCommand : Command<EngineSettings>
{
    public override int Execute(CommandContext context, EngineSettings settings, CancellationToken cancellationToken)
    {
        var device = TorchRuntime.Initialize(settings.Device, settings.LibTorch);
        var table = new Table().AddColumn("check").AddColumn("result");
        table.AddRow("device", Markup.Escape(device.Description));
        table.AddRow("libtorch", Markup.Escape(device.LibTorch?.ToString() ?? "bundled CPU libtorch (libtorch-cpu-linux-x64 2.10.0)"));
        table.AddRow(".NET", Markup.Escape(System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription));
        if (device.Memory is { } probe)
        {
            var memory = probe.DeviceMemory();
            table.AddRow("driver", Markup.Escape(Nvml.DriverVersion() ?? "unknown (NVML not available)"));
            table.AddRow("card memory", $"{new ByteSize(memory.TotalBytes)} total, {new ByteSize(memory.FreeBytes)} free");
            var others = Nvml.OtherProcessesBytes(probe.Device);
            table.AddRow("other processes", others is { } o ? new ByteSize(o).ToString() : "unknown (NVML not available)");
            table.AddRow("allocator", Markup.Escape(NativeEnvironment.Get("PYTORCH_CUDA_ALLOC_CONF") ?? "default"));
        }
        AnsiConsole.Write(table);

        var checks = new Table().AddColumn("self-test").AddColumn("outcome").AddColumn("ok");
        bool allPassed = true;
        foreach (var r in DeviceSelfTest.Run(device))
        {
            checks.AddRow(Markup.Escape(r.Check), Markup.Escape(r.Outcome), r.Passed ? "[green]yes[/]" : "[red]no[/]");
            allPassed &= r.Passed;
        }
        AnsiConsole.Write(checks);
        return allPassed ? 0 : 1;
    }
}
