using ZImageSharp.Options;
using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Planning;

/// <summary>Host RAM planned like the card's memory, for the released model loaded from its files.</summary>
public class HostBudgetTests
{
    private static PlannerInput OnHost(double cardGiB, double hostGiB, PlannerRequest? request = null, bool inFiles = true) =>
        Card(cardGiB, request) with
        {
            Host = HostBudget.WithAvailable((long)(hostGiB * ByteSize.GiB), PlannerOptions.Default),
            WeightsInFiles = inFiles,
        };

    [Fact]
    public void WeightsThatStayOnTheCardNeedNoHostCopy()
    {
        var plan = Planner.Plan(OnHost(24, 8, Square(1024)));

        Assert.True(plan.Fits, plan.Summary);
        Assert.Equal(Placement.Resident, plan.Transformer.Placement);
        Assert.Equal(Placement.Resident, plan.TextEncoder.Placement);
        Assert.Equal(PlannerOptions.Default.HostStagingBytes, plan.HostBytes); // only the file reads' staging
    }

    [Fact]
    public void AModelOnlyInMemoryHoldsEveryWeightOnTheHost()
    {
        var plan = Planner.Plan(OnHost(24, 64, Square(1024), inFiles: false));
        var model = plan.Input.Model;
        long all = model.TextEncoder.TotalBytes(WeightStorage.Bf16) + model.Transformer.TotalBytes(WeightStorage.Bf16)
                   + model.VaeDecoder.TotalBytes(WeightStorage.Bf16) + model.VaeEncoder.TotalBytes(WeightStorage.Bf16);
        Assert.Equal(all, plan.HostBytes);
    }

    [Theory]
    [InlineData(8, 64)]
    [InlineData(8, 16)]
    [InlineData(8, 12)]
    [InlineData(4, 16)]
    [InlineData(4, 12)]
    public void NoPlanHoldsMoreHostMemoryThanTheBudget(double cardGiB, double hostGiB)
    {
        foreach (int size in new[] { 1024, 2048 })
        {
            var plan = Planner.Plan(OnHost(cardGiB, hostGiB, Square(size)));
            Assert.True(plan.Fits, plan.Summary);
            Assert.InRange(plan.HostBytes, 0, plan.HostBudgetBytes);
            Assert.All(plan.Phases, p => Assert.InRange(p.HostBytes, 0, plan.HostBytes));
        }
    }

    [Fact]
    public void ASmallerHostTradesSpeedForHostMemory()
    {
        // 2048² on 4 GiB streams almost everything: a roomy host keeps bf16 masters, a 16 GiB one must not.
        var roomy = Planner.Plan(OnHost(4, 64, Square(2048)));
        var small = Planner.Plan(OnHost(4, 16, Square(2048)));

        Assert.True(roomy.HostBytes > small.HostBudgetBytes, $"the roomy plan holds {new ByteSize(roomy.HostBytes)}");
        Assert.True(small.HostBytes <= small.HostBudgetBytes);
        Assert.True(small.PredictedTime >= roomy.PredictedTime);
    }

    [Fact]
    public void WhenNoPlanFitsTheHostTheSummarySaysSoAndWhatWouldHelp()
    {
        var plan = Planner.Plan(OnHost(4, 3, Square(1024)));

        Assert.False(plan.Fits);
        Assert.False(plan.HostFits);
        Assert.All(plan.Phases, p => Assert.True(p.Fits));
        Assert.Contains("does not fit this host's memory", plan.Summary);
        Assert.Contains("--ram-budget", plan.Summary);
    }

    [Fact]
    public void Float32IsSizedAtFourBytes()
    {
        var fp32 = new MemoryPlanner(new PlannerOptions { VaeInFloat32 = true });
        var input = ReleasedOn(DeviceBudget.WithFreeMemory(80L * ByteSize.GiB, PlannerOptions.Default), Square(1024))
            with { Model = ReleasedFloat32, ComputeInFloat32 = true };
        var bf16Plan = PlanOn(80, Square(1024));
        var plan = fp32.Plan(input);

        Assert.Equal(Placement.Resident, plan.Transformer.Placement);
        // 6,154,908,736 parameters at 4 bytes: the float32 islands were 4 bytes already.
        Assert.Equal(6_154_908_736L * 4, plan.Transformer.ResidentWeightBytes);
        Assert.True(plan.PredictedPeakBytes > 1.9 * bf16Plan.PredictedPeakBytes - 4L * ByteSize.GiB);
        Assert.Equal("fp32", plan.WeightsPrecision);
        Assert.StartsWith("resident fp32", plan.Transformer.Describe()); // not "bf16": the plan names what it holds
    }

    [Fact]
    public void ThePlanTableReadsAtEightyColumnsAndShowsHostMemoryPerPhase()
    {
        var table = PlanTable.Format(Planner.Plan(OnHost(8, 16, Square(1024))));
        var lines = table.TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToList();

        Assert.All(lines, l => Assert.True(l.Length <= PlanTable.Width, $"{l.Length} columns: {l}"));
        Assert.Equal(["Phase", "Device", "peak", "Host", "RAM", "Time"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("encode", lines[2]);
        Assert.Contains("text encoder", lines[3]);
        Assert.Contains(lines, l => l.StartsWith("total"));
        Assert.Contains(lines, l => l.Contains("host budget"));
    }
}
