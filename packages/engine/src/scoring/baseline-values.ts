/**
 * Confidence baselines from softmax probabilities (rows of `probs`, B x C): max softmax
 * probability (Hendrycks & Gimpel 2017), entropy in nats (higher = less certain), the margin
 * between the two most probable classes, and MaxLogit-pNorm (Cattelan & Silva, UAI 2024). Plain
 * arrays: the scorer has already read the probabilities back for the top-k, so this costs no
 * extra kernel calls.
 */
export function baselinesOf(
  probs: ArrayLike<number>,
  b: number,
  c: number,
  pnorm = 2,
): { msp: Float64Array; entropy: Float64Array; margin: Float64Array; maxLogitPNorm: Float64Array } {
  const msp = new Float64Array(b),
    entropy = new Float64Array(b),
    margin = new Float64Array(b),
    maxLogitPNorm = new Float64Array(b);
  for (let i = 0; i < b; i++) {
    let p1 = 0,
      p2 = 0,
      h = 0;
    for (let j = 0; j < c; j++) {
      const p = probs[i * c + j]!;
      if (p > p1) {
        p2 = p1;
        p1 = p;
      } else if (p > p2) p2 = p;
      if (p > 0) h -= p * Math.log(p);
    }
    msp[i] = p1;
    entropy[i] = h;
    margin[i] = p1 - p2;
    maxLogitPNorm[i] = maxLogitPNormOf(probs, i * c, c, pnorm);
  }
  return { msp, entropy, margin, maxLogitPNorm };
}

/** log of a probability that underflowed to 0 in float32 (e^−103 is below its smallest subnormal) */
const LOG_FLOOR = -103;

/**
 * MaxLogit-pNorm of one row: the logits centred (z − mean z), their max divided by their p-norm.
 * The logits are log-probabilities up to a constant per row, which centring removes, so a model
 * that outputs probabilities gets the same score as one that outputs logits (up to float32
 * underflow: a probability of 0 reads as e^−103). In [0, 1]: the max of a vector is at most its
 * p-norm; 0 for a uniform prediction.
 */
export function maxLogitPNormOf(probs: ArrayLike<number>, offset: number, c: number, p: number): number {
  const z = new Float64Array(c);
  let mean = 0;
  for (let j = 0; j < c; j++) {
    const v = probs[offset + j]!;
    z[j] = v > 0 ? Math.max(LOG_FLOOR, Math.log(v)) : LOG_FLOOR;
    mean += z[j]! / c;
  }
  let max = -Infinity,
    norm = 0;
  for (let j = 0; j < c; j++) {
    const d = z[j]! - mean;
    if (d > max) max = d;
    norm += Math.pow(Math.abs(d), p);
  }
  norm = Math.pow(norm, 1 / p);
  return norm > 0 ? Math.min(1, Math.max(0, max / norm)) : 0;
}
