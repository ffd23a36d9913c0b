/**
 * A threshold on a confidence with a guarantee: "the error rate among accepted images is at most
 * α, with probability at least 1 − δ over the sample the threshold was chosen on" (selective risk
 * control by Learn then Test, Angelopoulos et al. 2021, with fixed-sequence testing).
 *
 * For each candidate threshold λ, H₀(λ): the error rate among images with confidence ≥ λ is > α.
 * Given the n(λ) accepted sample images and their e(λ) errors, the exact binomial p-value is
 * P(Bin(n, α) ≤ e). The candidates are tested from the strictest (highest λ) down, each at level
 * δ, stopping at the first that cannot be rejected; the most lenient rejected λ is returned. The
 * sequence is fixed before the errors are seen (it depends on the confidences only), so the
 * family-wise error is at most δ. The sequence starts at the strictest λ that accepts enough
 * images to be rejectable at all ((1 − α)^n ≤ δ); where even that fails, no threshold is certified.
 * A single fixed sequence has little power on small samples: one error among the few most
 * confident images stops it at once (on 500 images of the test's synthetic model, α = δ = 0.1,
 * about one sample in four certifies nothing). Several sequences with later starts, each at δ/k
 * (union bound), were measured and certified less often (START_SHARES); a larger sample is the fix.
 */

/** log of the binomial coefficient, by lgamma (exact enough for p-values down to 1e-300). */
function logChoose(n: number, k: number): number {
  return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1);
}

/** Lanczos approximation of log Γ(x) for x > 0 (relative error below 1e-13). */
export function lgamma(x: number): number {
  const g = 7;
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  const xm = x - 1;
  let a = c[0]!;
  const t = xm + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i]! / (xm + i);
  return 0.5 * Math.log(2 * Math.PI) + (xm + 0.5) * Math.log(t) - t + Math.log(a);
}

/** P(Bin(n, p) ≤ k), summed in log space. */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  let sum = 0;
  const lp = Math.log(p),
    lq = Math.log1p(-p);
  for (let i = 0; i <= k; i++) sum += Math.exp(logChoose(n, i) + i * lp + (n - i) * lq);
  return Math.min(1, sum);
}

export interface RiskControlItem {
  confidence: number;
  error: boolean;
}

export interface RiskControlResult {
  alpha: number;
  delta: number;
  /** the certified threshold (accept confidence ≥ threshold); null where none could be certified */
  threshold: number | null;
  /** on the sample: images accepted at the threshold, their errors, and the share accepted */
  accepted: number;
  errors: number;
  coverage: number;
  /** the binomial p-value of the chosen threshold's test */
  pValue: number | null;
  /** why no threshold could be certified, where none was */
  reason?: string;
}

/**
 * Where each fixed sequence starts, as a share of the sample (0: the fewest images that can reject).
 * One sequence from the top: measured on the test's synthetic model (200 samples of 500, α = δ = 0.1;
 * the model of test/evaluation/audit-risk-control.unit.test.ts), it certified 146 samples,
 * against 140 for starts {0, 10%} at δ/2, 131 for {0, 25%}, 112 for {0, 10%, 25%} at δ/3; the later
 * starts accept a little more when they certify (coverage 0.15-0.17 against 0.14; the oracle's is 0.33).
 */
const START_SHARES = [0];

/** The most lenient threshold whose error among accepted is certified ≤ α at level δ (see the header). */
export function controlSelectiveRisk(items: RiskControlItem[], alpha: number, delta: number): RiskControlResult {
  if (!(alpha > 0 && alpha < 1) || !(delta > 0 && delta < 1))
    throw new RangeError('alpha and delta must lie in (0, 1)');
  const sorted = [...items].sort((a, b) => b.confidence - a.confidence);
  const n = sorted.length;
  // Each sequence is tested at δ / (number of sequences): the union bound keeps the family-wise error at δ.
  const level = delta / START_SHARES.length;
  const minAccepted = Math.ceil(Math.log(level) / Math.log1p(-alpha));
  const none = (reason: string): RiskControlResult => ({
    alpha,
    delta,
    threshold: null,
    accepted: 0,
    errors: 0,
    coverage: 0,
    pValue: null,
    reason,
  });
  if (n < minAccepted)
    return none(
      `${n} verified images cannot certify an error rate of ${alpha} at δ = ${delta}: at least ${minAccepted} are needed, all correct; verify more`,
    );
  // the candidates: one per distinct confidence (ties accepted together), with the errors accepted at each
  const steps: { accepted: number; errors: number; threshold: number }[] = [];
  for (let i = 0, errors = 0; i < n;) {
    let j = i;
    while (j < n && sorted[j]!.confidence === sorted[i]!.confidence) {
      if (sorted[j]!.error) errors++;
      j++;
    }
    steps.push({ accepted: j, errors, threshold: sorted[j - 1]!.confidence });
    i = j;
  }
  let best: RiskControlResult | null = null;
  let stoppedAt = { accepted: 0, errors: 0 };
  for (const share of START_SHARES) {
    const from = Math.max(minAccepted, Math.ceil(share * n));
    for (const st of steps) {
      if (st.accepted < from) continue;
      const p = binomialCdf(st.errors, st.accepted, alpha);
      if (p > level) {
        if (!best) stoppedAt = { accepted: st.accepted, errors: st.errors };
        break;
      }
      if (!best || st.accepted > best.accepted)
        best = {
          alpha,
          delta,
          threshold: st.threshold,
          accepted: st.accepted,
          errors: st.errors,
          coverage: st.accepted / n,
          pValue: p,
        };
    }
  }
  return (
    best ??
    none(
      `the ${stoppedAt.accepted} most confident verified images hold ${stoppedAt.errors} errors, too many to certify an error rate of ${alpha} at δ = ${delta}: verify more images, or raise --alpha`,
    )
  );
}
