/**
 * Confidence baselines from softmax probabilities (rows of `probs`, B x C): max softmax
 * probability (Hendrycks & Gimpel 2017), entropy in nats (higher = less certain), and the
 * margin between the two most probable classes. Plain arrays: the scorer has already
 * read the probabilities back for the top-k, so this costs no extra kernel calls.
 */
export function baselinesOf(
  probs: ArrayLike<number>,
  b: number,
  c: number,
): { msp: Float64Array; entropy: Float64Array; margin: Float64Array } {
  const msp = new Float64Array(b),
    entropy = new Float64Array(b),
    margin = new Float64Array(b);
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
  }
  return { msp, entropy, margin };
}
