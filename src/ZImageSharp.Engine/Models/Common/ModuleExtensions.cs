using static TorchSharp.torch;

namespace ZImageSharp.Engine.Models.Common;

public static class ModuleExtensions
{
    /// <summary>The dtype of a module's first parameter: the compute dtype for modules built in one dtype.</summary>
    public static ScalarType ParameterDType(this nn.Module module) => FirstParameter(module).dtype;

    /// <summary>The device of a module's first parameter.</summary>
    public static Device ParameterDevice(this nn.Module module) => FirstParameter(module).device;

    private static Tensor FirstParameter(nn.Module module) =>
        module.parameters().FirstOrDefault() ?? throw new InvalidOperationException($"{module.GetName()} has no parameters.");
}
