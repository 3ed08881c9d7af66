namespace ZImageSharp.Engine.Scheduling;

/// <summary>
/// The Beta(a, b) distribution's CDF and quantile, for ComfyUI's beta schedule (which calls
/// <c>scipy.stats.beta.ppf</c>). Double precision; the schedule rounds quantile × 999 to a table index, so the last
/// bits matter only at a rounding tie, and the one tie the schedule meets (the median of the symmetric Beta, 0.5 ×
/// 999 = 499.5) is exact here.
/// </summary>
internal static class BetaDistribution
{
    /// <summary>The regularized incomplete beta function I_x(a, b), by its continued fraction.</summary>
    public static double Cdf(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        double front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x));
        return x < (a + 1) / (a + b + 2)
            ? front * ContinuedFraction(a, b, x) / a
            : 1 - front * ContinuedFraction(b, a, 1 - x) / b;
    }

    /// <summary>The p-quantile, by bisection down to adjacent doubles (the CDF is monotone, so this cannot fail).</summary>
    public static double Quantile(double p, double a, double b)
    {
        if (p <= 0) return 0;
        if (p >= 1) return 1;
        if (a == b && p == 0.5) return 0.5;
        double lo = 0, hi = 1;
        for (int i = 0; i < 200; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (mid <= lo || mid >= hi) break;
            if (Cdf(mid, a, b) < p) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>Modified Lentz evaluation of the incomplete beta continued fraction.</summary>
    private static double ContinuedFraction(double a, double b, double x)
    {
        const double Tiny = 1e-300;
        static double Guard(double v) => Math.Abs(v) > Tiny ? v : Tiny;
        double qab = a + b, qap = a + 1, qam = a - 1;
        double c = 1, d = 1 / Guard(1 - qab * x / qap), h = d;
        for (int m = 1; m < 1000; m++)
        {
            int m2 = 2 * m;
            double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
            d = 1 / Guard(1 + aa * d);
            c = Guard(1 + aa / c);
            h *= d * c;
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
            d = 1 / Guard(1 + aa * d);
            c = Guard(1 + aa / c);
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return h;
    }

    private static readonly double[] Lanczos =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
        12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];

    /// <summary>ln Γ(x) for x &gt; 0 (Lanczos, g = 7), about 15 significant digits.</summary>
    internal static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Sin(Math.PI * x)) - LogGamma(1 - x);
        x -= 1;
        double sum = Lanczos[0];
        for (int i = 1; i < Lanczos.Length; i++) sum += Lanczos[i] / (x + i);
        double t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }
}
