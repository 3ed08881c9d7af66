using System.Collections.Concurrent;
using System.Reflection;
using TorchSharp;
using ZImageSharp.Engine.Models.Common;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Lifetime;

/// <summary>
/// TorchSharp 0.107 frees a <see cref="Scalar"/>'s native value in its finalizer and passes only the raw handle to
/// libtorch, so a Scalar nobody holds can be finalized while the op that reads it is still running (issue #10: jobs
/// failing with "Expected false to be true ... toFloat at c10/core/Scalar.h" under load). This reads the engine's
/// compiled code and fails on every place that makes such a Scalar: an implicit conversion (<c>x + 1.0</c>,
/// <c>addcmul(..., 1.0)</c>), an explicit one not disposed by its method, or a TorchSharp overload that converts a
/// number internally (<c>a + b</c> passes alpha = 1, <c>linalg.vector_norm(x, 2)</c> its order, <c>arange(n)</c> its
/// start and step). What may make a Scalar: <see cref="Scalars"/>, and a <c>using</c> local of the method itself.
/// </summary>
public sealed class ScalarOwnershipTests
{
    private static readonly Assembly TorchSharpAssembly = typeof(torch).Assembly;
    private static readonly ConcurrentDictionary<MethodBase, bool> Leaky = new();

    [Fact]
    public void Engine_code_makes_no_scalar_it_does_not_own()
    {
        var problems = Audit(typeof(ZImageEngine).Assembly).ToList();
        Assert.True(problems.Count == 0,
            $"{problems.Count} place(s) make a TorchSharp Scalar nobody owns during the native call:\n" + string.Join("\n", problems));
    }

    /// <summary>The audit itself must catch the forms the engine used to have, or its silence proves nothing.</summary>
    [Fact]
    public void The_audit_finds_each_unowned_form_and_accepts_the_owned_ones()
    {
        var found = Audit(typeof(ScalarOwnershipTests).Assembly)
            .Where(p => p.StartsWith(nameof(Samples), StringComparison.Ordinal)).ToList();
        string[] expected =
        [
            $"{nameof(Samples)}.{nameof(Samples.ImplicitFactor)}: implicit conversion to Scalar",
            $"{nameof(Samples)}.{nameof(Samples.OperatorAddend)}: Tensor.op_Addition(Tensor, Double) makes a Scalar it does not own",
            $"{nameof(Samples)}.{nameof(Samples.TensorSum)}: Tensor.op_Addition(Tensor, Tensor) makes a Scalar it does not own",
            $"{nameof(Samples)}.{nameof(Samples.VectorNorm)}: linalg.vector_norm(Tensor, Double, Int64[], Boolean) makes a Scalar it does not own",
            $"{nameof(Samples)}.{nameof(Samples.ExplicitNotDisposed)}: ToScalar() not kept in a local the method disposes",
        ];
        Assert.Equal(expected.Order(), found.Order());
    }

    private static class Samples
    {
        public static Tensor ImplicitFactor(Tensor x) => x.mul(2.0);
        public static Tensor OperatorAddend(Tensor x) => x + 1.0;
        public static Tensor TensorSum(Tensor x, Tensor y) => x + y;
        public static Tensor VectorNorm(Tensor x) => linalg.vector_norm(x, 2, [-1L], keepdim: true);
        public static Tensor ExplicitNotDisposed(Tensor x) => x.mul(2.0.ToScalar());

        public static Tensor Owned(Tensor x, double factor)
        {
            using var scalar = factor.ToScalar();
            return x.mul(scalar).add_(x, Scalars.One);
        }
    }

    private static IEnumerable<string> Audit(Assembly assembly)
    {
        foreach (var method in IlCalls.MethodsOf(assembly))
        {
            // Scalars' own conversions are its cache, held for the life of the process.
            bool cache = OuterType(method.DeclaringType!) == typeof(Scalars);
            foreach (var call in IlCalls.Of(method))
            {
                string where = $"{Name(method.DeclaringType!)}.{method.Name}";
                if (IsImplicitConversion(call.Callee))
                    yield return $"{where}: implicit conversion to Scalar";
                else if (IsExplicitConversion(call.Callee))
                {
                    if (!cache && !DisposedLocal(call))
                        yield return $"{where}: {call.Callee.Name}() not kept in a local the method disposes";
                }
                else if (call.Callee.Module.Assembly == TorchSharpAssembly && MakesUnownedScalar(call.Callee, []))
                    yield return $"{where}: {Signature(call.Callee)} makes a Scalar it does not own";
            }
        }
    }

    private static bool IsImplicitConversion(MethodBase m) => m.DeclaringType == typeof(Scalar) && m.Name == "op_Implicit";

    private static bool IsExplicitConversion(MethodBase m) =>
        m.Name == "ToScalar" && m is MethodInfo { ReturnType: var r } && r == typeof(Scalar);

    /// <summary>Inside TorchSharp: the method, or one it calls, converts a number to a Scalar and keeps it only for the
    /// call (TorchSharp disposes none of them).</summary>
    private static bool MakesUnownedScalar(MethodBase method, HashSet<MethodBase> visiting)
    {
        if (Leaky.TryGetValue(method, out bool known)) return known;
        if (!visiting.Add(method)) return false;
        bool leaky = method.GetMethodBody() is not null && IlCalls.Of(method).Any(c =>
            IsImplicitConversion(c.Callee) || IsExplicitConversion(c.Callee) ||
            (c.Callee.Module.Assembly == TorchSharpAssembly && MakesUnownedScalar(c.Callee, visiting)));
        visiting.Remove(method);
        Leaky[method] = leaky;
        return leaky;
    }

    /// <summary>The conversion's result goes straight into a local that the method disposes (a <c>using</c>).</summary>
    private static bool DisposedLocal(IlCall call)
    {
        if (call.Index + 1 >= call.Body.Count || IlCalls.StoredLocal(call.Body[call.Index + 1]) is not { } local) return false;
        for (int i = call.Index + 2; i + 1 < call.Body.Count; i++)
        {
            if (IlCalls.LoadedLocal(call.Body[i]) != local) continue;
            // using emits: ldloc x; brfalse end; ldloc x; callvirt IDisposable.Dispose.
            if (IlCalls.Resolve(call.Caller, call.Body[i + 1]) is { Name: "Dispose" }) return true;
        }
        return false;
    }

    /// <summary>The type a compiler-generated type (a lambda's closure, an iterator) was written in.</summary>
    private static Type OuterType(Type type) => type.DeclaringType is { } outer && type.Name.StartsWith('<') ? OuterType(outer) : type;

    private static string Name(Type type) => OuterType(type).Name;

    private static string Signature(MethodBase m) =>
        $"{Name(m.DeclaringType!)}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})";
}
