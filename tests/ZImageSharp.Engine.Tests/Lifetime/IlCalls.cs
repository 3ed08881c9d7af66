using System.Reflection;
using System.Reflection.Emit;

namespace ZImageSharp.Engine.Tests.Lifetime;

/// <summary>One instruction of a method body that calls another method, with what comes just before and after it.</summary>
internal sealed record IlCall(MethodBase Caller, MethodBase Callee, int Index, IReadOnlyList<IlInstruction> Body);

/// <summary>An IL instruction: its opcode, and its operand as a local index or a metadata token where it has one.</summary>
internal readonly record struct IlInstruction(OpCode OpCode, int Operand);

/// <summary>
/// Reads the calls out of compiled method bodies, so a test can check what the engine's code really calls: which
/// implicit conversions and overloads the compiler picked, which no text search can tell.
/// </summary>
internal static class IlCalls
{
    private static readonly Dictionary<short, OpCode> ByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    public const BindingFlags Everything =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Every method and constructor with a body, of every type of <paramref name="assembly"/> (lambdas,
    /// local functions and iterators included: they compile to methods of nested types).</summary>
    public static IEnumerable<MethodBase> MethodsOf(Assembly assembly) =>
        assembly.GetTypes().SelectMany(t => t.GetMethods(Everything).Cast<MethodBase>().Concat(t.GetConstructors(Everything)))
            .Where(m => m.GetMethodBody() is not null);

    public static IReadOnlyList<IlInstruction> Decode(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray() ?? [];
        var body = new List<IlInstruction>();
        for (int i = 0; i < il.Length;)
        {
            short value = il[i++];
            if (value == 0xFE) value = (short)(0xFE00 | il[i++]);
            var op = ByValue[value];
            int operand = 0;
            switch (op.OperandType)
            {
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    operand = il[i]; i += 1; break;
                case OperandType.InlineVar: operand = BitConverter.ToUInt16(il, i); i += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: i += 8; break;
                case OperandType.InlineSwitch: i += 4 + 4 * BitConverter.ToInt32(il, i); break;
                default: operand = BitConverter.ToInt32(il, i); i += 4; break;
            }
            body.Add(new IlInstruction(op, operand));
        }
        return body;
    }

    /// <summary>The calls (call, callvirt, newobj, and ldftn for delegates) in <paramref name="method"/>'s body,
    /// resolved to their targets.</summary>
    public static IEnumerable<IlCall> Of(MethodBase method)
    {
        var body = Decode(method);
        for (int i = 0; i < body.Count; i++)
            if (Resolve(method, body[i]) is { } callee)
                yield return new IlCall(method, callee, i, body);
    }

    /// <summary>The method an instruction of <paramref name="method"/> names, or null when it names none.</summary>
    public static MethodBase? Resolve(MethodBase method, IlInstruction instruction)
    {
        if (instruction.OpCode.OperandType != OperandType.InlineMethod) return null;
        var typeArguments = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        try { return method.Module.ResolveMethod(instruction.Operand, typeArguments, methodArguments); }
        catch (ArgumentException) { return null; }
    }

    /// <summary>The local a store instruction writes, or null when it is not a local store.</summary>
    public static int? StoredLocal(IlInstruction instruction) => LocalOf(instruction, "stloc");

    /// <summary>The local a load instruction reads, or null when it is not a local load.</summary>
    public static int? LoadedLocal(IlInstruction instruction) => LocalOf(instruction, "ldloc");

    private static int? LocalOf(IlInstruction instruction, string prefix)
    {
        string name = instruction.OpCode.Name!;
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return null;
        string rest = name[prefix.Length..];
        if (rest.StartsWith('a')) return null;                                 // ldloca: an address, not the value
        return rest.StartsWith('.') && char.IsDigit(rest[^1]) && !rest.StartsWith(".s") ? rest[^1] - '0' : instruction.Operand;
    }
}
