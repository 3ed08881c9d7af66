using System.Text.RegularExpressions;
using TorchSharp;
using ZImageSharp.Engine.Models.Transformer;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Diagnostics;

/// <summary>
/// Runs every fixture set of a reference folder (tests/data/reference layout: small random-weight models and the
/// reference implementation's outputs) through the engine's real model classes, built directly on a device in a
/// compute dtype, and reports ‖out − ref‖ / ‖ref‖ per output. This is how parity is shown where no test runner exists
/// (the GPU machine): <c>zimage parity</c> renders the rows, and the CPU tests assert them.
/// </summary>
public sealed partial class ReferenceParity
{
    /// <summary>float32 must match the float32 reference to rounding.</summary>
    public const double Float32Tolerance = 1e-4;

    /// <summary>bfloat16 keeps 8 mantissa bits (relative step 2⁻⁸ ≈ 4e-3); a few roundings per layer stay under this.</summary>
    public const double BFloat16Tolerance = 2e-2;

    /// <summary>The environment variable that names another fixture folder of the same layout.</summary>
    public const string ReferenceDirVariable = "ZIMAGE_REFERENCE_DIR";

    // The sets of the repository's fixture folder: reported even when absent, so a missing one shows as skipped.
    private static readonly string[] ExpectedSets = ["dit_case0", "dit_case1", "qwen3_case0", "vae_case0", "scheduler", "pipeline_case0"];
    private static readonly string[] KindOrder = ["dit", "qwen3", "vae", "scheduler", "pipeline"];

    private readonly string _folder;
    private readonly Device _device;
    private readonly ScalarType _dtype;

    /// <param name="referenceFolder">A folder in the tests/data/reference layout; it must exist.</param>
    /// <param name="device">Where the models are built and run.</param>
    /// <param name="dtype">float32 or bfloat16: the models' parameter and compute dtype.</param>
    public ReferenceParity(string referenceFolder, Device device, ScalarType dtype)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"Parity is defined for float32 and bfloat16 only, not {dtype}.", nameof(dtype));
        if (!Directory.Exists(referenceFolder))
            throw new DirectoryNotFoundException(
                $"The reference fixture folder '{Path.GetFullPath(referenceFolder)}' does not exist. Pass the folder explicitly or set " +
                $"{ReferenceDirVariable}; the repository's fixtures are in tests/data/reference (run from the repository root).");
        _folder = referenceFolder;
        _device = device;
        _dtype = dtype;
    }

    /// <summary><c>$ZIMAGE_REFERENCE_DIR</c> when set, else <c>tests/data/reference</c> under the current directory.</summary>
    public static string DefaultReferenceFolder() =>
        Environment.GetEnvironmentVariable(ReferenceDirVariable) is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.CurrentDirectory, "tests", "data", "reference");

    public static double ToleranceFor(ScalarType dtype) => dtype == ScalarType.BFloat16 ? BFloat16Tolerance : Float32Tolerance;

    /// <summary>The short name used in rows and on the command line: fp32 or bf16.</summary>
    public static string DTypeName(ScalarType dtype) => dtype == ScalarType.BFloat16 ? "bf16" : "fp32";

    public double Tolerance => ToleranceFor(_dtype);

    /// <summary>
    /// The expected sets plus any further case of a known kind found in the folder (another fixture folder may hold
    /// more cases), in pipeline order: transformer, text encoder, VAE, scheduler, whole loop.
    /// </summary>
    public IReadOnlyList<string> SetNames()
    {
        var found = Directory.EnumerateFiles(_folder, "*.safetensors")
            .Select(Path.GetFileNameWithoutExtension)
            .Where(name => name is not null && CaseName().IsMatch(name))
            .Select(name => name!);
        return ExpectedSets.Union(found, StringComparer.Ordinal)
            .OrderBy(set => Array.IndexOf(KindOrder, KindOf(set)))
            .ThenBy(set => CaseName().Match(set) is { Success: true } m ? int.Parse(m.Groups["n"].ValueSpan, provider: null) : 0)
            .ToList();
    }

    /// <summary>Every set, in order. A set that is absent gives one <see cref="ParityOutcome.Skipped"/> row.</summary>
    /// <param name="onRow">Called as each row is produced (progress for a long run); null for none.</param>
    public IReadOnlyList<ParityRow> Run(Action<ParityRow>? onRow = null) =>
        SetNames().SelectMany(set => RunSet(set, onRow)).ToList();

    /// <summary>One set's rows (one skipped row when its files are absent).</summary>
    public IReadOnlyList<ParityRow> RunSet(string set, Action<ParityRow>? onRow = null)
    {
        var kind = KindOf(set);
        Action<string, ParityRows, Arithmetic> check = kind switch
        {
            "dit" => CheckTransformer,
            "qwen3" => CheckTextEncoder,
            "vae" => CheckVae,
            "scheduler" => CheckScheduler,
            "pipeline" => CheckPipeline,
            _ => throw new ArgumentException($"'{set}' is not a fixture set of a known kind ({string.Join(", ", KindOrder)}).", nameof(set)),
        };
        var dtype = DTypeName(_dtype);
        var absent = RequiredFiles(set, kind).Where(f => !File.Exists(FixturePath(f))).ToList();
        if (absent.Count > 0)
        {
            var skipped = new ParityRow(set, "(whole set)", dtype, null, Tolerance, ParityOutcome.Skipped, $"absent: {string.Join(", ", absent)}");
            onRow?.Invoke(skipped);
            return [skipped];
        }

        // For bf16 the same check first runs quietly in float32 on bf16-rounded weights and inputs: its errors are
        // the floors that bf16 storage alone sets, shown next to the real bf16 errors.
        IReadOnlyDictionary<string, double>? floors = null;
        if (_dtype == ScalarType.BFloat16)
        {
            var floorRows = new ParityRows(set, dtype, Tolerance, null, null);
            Execute(check, set, floorRows, Arithmetic.RoundedToBFloat16);
            floors = floorRows.All.Where(r => r.RelativeError is not null).ToDictionary(r => r.Output, r => r.RelativeError!.Value);
        }
        var rows = new ParityRows(set, dtype, Tolerance, floors, onRow);
        Execute(check, set, rows, new Arithmetic(_dtype, RoundToBFloat16: false));
        return rows.All;
    }

    /// <summary>A failure inside a set (a checkpoint that does not fit, a kernel error) becomes a failed row with the
    /// message, after the rows already produced, so the other sets still run.</summary>
    private static void Execute(Action<string, ParityRows, Arithmetic> check, string set, ParityRows rows, Arithmetic arithmetic)
    {
        try
        {
            using var scope = NewDisposeScope();
            check(set, rows, arithmetic);
        }
        catch (Exception e)
        {
            rows.Add(new ParityRow(set, "(error)", rows.DType, null, rows.Tolerance, ParityOutcome.Failed,
                $"{e.GetType().Name}: {e.Message.Split('\n')[0]}"));
        }
    }

    /// <summary>‖actual − expected‖ / ‖expected‖ in float64 on the CPU (0 when both are zero).</summary>
    public static double RelativeError(Tensor actual, Tensor expected)
    {
        if (!actual.shape.SequenceEqual(expected.shape))
            throw new ArgumentException(
                $"Output shape [{string.Join(", ", actual.shape)}] differs from the reference's [{string.Join(", ", expected.shape)}].");
        using var scope = NewDisposeScope();
        var a = actual.detach().to(ScalarType.Float64, CPU);
        var e = expected.detach().to(ScalarType.Float64, CPU);
        double difference = (a - e).norm().item<double>();
        double reference = e.norm().item<double>();
        return reference == 0 ? (difference == 0 ? 0 : double.PositiveInfinity) : difference / reference;
    }

    private static IEnumerable<string> RequiredFiles(string set, string kind) => kind switch
    {
        "dit" => ["dit_weights.json", "dit_weights.safetensors", $"{set}.json", $"{set}.safetensors"],
        "qwen3" => ["qwen3_weights.json", "qwen3_weights.safetensors", $"{set}.safetensors"],
        "vae" => ["vae_weights.json", "vae_weights.safetensors", $"{set}.safetensors"],
        "pipeline" => [$"{set}.json", $"{set}.safetensors"],
        _ => [$"{set}.safetensors"],
    };

    private static string KindOf(string set) => set == "scheduler" ? set : set.Split("_case")[0];

    [GeneratedRegex(@"^(dit|qwen3|vae|pipeline)_case(?<n>\d+)$")]
    private static partial Regex CaseName();

    private string FixturePath(string file) => Path.Combine(_folder, file);

    /// <summary>Collects one set's rows and applies the dtype's tolerance.</summary>
    private sealed class ParityRows(string set, string dtype, double tolerance, IReadOnlyDictionary<string, double>? floors,
        Action<ParityRow>? onRow)
    {
        private readonly List<ParityRow> _rows = [];

        public string DType => dtype;
        public double Tolerance => tolerance;
        public IReadOnlyList<ParityRow> All => _rows;

        public void Add(ParityRow row)
        {
            _rows.Add(row);
            onRow?.Invoke(row);
        }

        /// <summary>Compares one output; a shape mismatch is a failed row, not an exception.</summary>
        public void Compare(string output, Tensor actual, Tensor expected, string? note = null)
        {
            double error;
            try { error = RelativeError(actual, expected); }
            catch (ArgumentException e)
            {
                Add(new ParityRow(set, output, dtype, null, tolerance, ParityOutcome.Failed, e.Message));
                return;
            }
            Add(Measured(output, error, note));
        }

        public void Add(string output, double error, string? note = null) => Add(Measured(output, error, note));

        // NaN never passes: the comparison is false.
        private ParityRow Measured(string output, double error, string? note) =>
            new(set, output, dtype, error, tolerance, error <= tolerance ? ParityOutcome.Passed : ParityOutcome.Failed, note,
                floors is not null && floors.TryGetValue(output, out var floor) ? floor : null);
    }

    /// <summary>
    /// How a check builds its models and casts its inputs: in the model dtype, or (for the rounding floor) in float32
    /// with every floating input and every parameter a bf16 model stores in bf16 rounded to bf16 first (the
    /// transformer's float32 islands, <see cref="ZImageTransformer.KeepsFloat32"/>, stay exact as in the bf16 model).
    /// </summary>
    private sealed record Arithmetic(ScalarType ModelDType, bool RoundToBFloat16)
    {
        public static Arithmetic RoundedToBFloat16 { get; } = new(ScalarType.Float32, RoundToBFloat16: true);

        /// <summary>A floating input as the model receives it.</summary>
        public Tensor Input(Tensor input, Device device) => RoundToBFloat16
            ? input.to(ScalarType.BFloat16, device).to(ScalarType.Float32)
            : input.to(ModelDType, device);

        /// <summary>Called once the weights are loaded.</summary>
        public void Loaded(nn.Module module)
        {
            if (!RoundToBFloat16) return;
            using var noGrad = no_grad();
            foreach (var (name, parameter) in module.named_parameters())
            {
                if (module is ZImageTransformer && ZImageTransformer.KeepsFloat32(name)) continue;
                using var rounded = parameter.to(ScalarType.BFloat16).to(ScalarType.Float32);
                parameter.copy_(rounded);
            }
        }
    }
}
