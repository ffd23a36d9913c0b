/**
 * The varied scene generator's background families (varied-scenes.ts), one painter per family,
 * on the float canvas of varied-canvas.ts. Pure functions of their random stream: the draws and
 * the arithmetic are those the generator has always made, in the same order.
 */
import {
  type Canvas,
  type RGB,
  type Rng,
  fill,
  mix,
  paintEllipse,
  randColour,
  randInt,
  uniform,
} from './varied-canvas';
import type { BackgroundFamily } from './varied-scenes';

// Math's functions as module constants: in a jest (vm) context every global lookup in these
// per-pixel loops is slow. Same functions, same results.
const { PI, ceil: mCeil, cos: mCos, floor: mFloor, hypot: mHypot, max: mMax, min: mMin, sin: mSin } = Math;

/** What every family is painted from, drawn before the family's own draws. */
interface Ground {
  s: number;
  a: RGB;
  b: RGB;
  cos: number;
  sin: number;
  period: number;
}

type Painter = (rng: Rng, c: Canvas, g: Ground) => void;

const PAINTERS: Record<BackgroundFamily, Painter> = {
  flat: paintFlat,
  linear: paintLinear,
  radial: paintRadial,
  noise: paintNoise,
  stripes: paintStripes,
  checks: paintChecks,
  blobs: paintBlobs,
  mosaic: paintMosaic,
};

/** Background of one family. Two colours `a`, `b`: `b` pulled towards `a` by a random contrast. */
export function paintBackground(rng: Rng, c: Canvas, family: BackgroundFamily): void {
  const s = c.s;
  const a = randColour(rng, 10, 246);
  const b = mix(a, randColour(rng, 10, 246), uniform(rng, 0.25, 1));
  const angle = rng() * PI,
    cos = mCos(angle),
    sin = mSin(angle);
  const period = s * uniform(rng, 0.06, 0.25);
  PAINTERS[family]?.(rng, c, { s, a, b, cos, sin, period });
}

function paintFlat(_rng: Rng, c: Canvas, { a }: Ground): void {
  fill(c, () => a);
}

function paintLinear(rng: Rng, c: Canvas, { s, a, b, cos, sin }: Ground): void {
  const off = rng();
  fill(c, (x, y) => mix(a, b, mMin(1, mMax(0, (x * cos + y * sin) / (s * 1.42) + off * 0.3))));
}

function paintRadial(rng: Rng, c: Canvas, { s, a, b }: Ground): void {
  const cx = rng() * s,
    cy = rng() * s,
    r = s * uniform(rng, 0.4, 1.2);
  fill(c, (x, y) => mix(a, b, mMin(1, mHypot(x - cx, y - cy) / r)));
}

/** One octave of value noise: a random grid of cell `cell` px, bilinearly interpolated. */
function octave(rng: Rng, s: number, cell: number): (x: number, y: number) => number {
  const n = mCeil(s / cell) + 2,
    g = Float32Array.from({ length: n * n }, () => rng());
  return (x: number, y: number) => {
    const u = x / cell,
      v = y / cell,
      x0 = mFloor(u),
      y0 = mFloor(v),
      fx = u - x0,
      fy = v - y0;
    const p = (i: number, j: number) => g[j * n + i]!;
    return (
      (p(x0, y0) * (1 - fx) + p(x0 + 1, y0) * fx) * (1 - fy) + (p(x0, y0 + 1) * (1 - fx) + p(x0 + 1, y0 + 1) * fx) * fy
    );
  };
}

/** Value noise: two octaves. */
function paintNoise(rng: Rng, c: Canvas, { s, a, b, period }: Ground): void {
  const o1 = octave(rng, s, mMax(3, period * 1.5)),
    o2 = octave(rng, s, mMax(2, period * 0.4));
  fill(c, (x, y) => mix(a, b, mMin(1, mMax(0, o1(x, y) * 0.7 + o2(x, y) * 0.3))));
}

function paintStripes(rng: Rng, c: Canvas, { a, b, cos, sin, period }: Ground): void {
  const duty = uniform(rng, 0.3, 0.7),
    soft = rng() < 0.5;
  fill(c, (x, y) => {
    const ph = ((((x * cos + y * sin) / period) % 1) + 1) % 1;
    return mix(a, b, soft ? (mSin(ph * 2 * PI) + 1) / 2 : ph < duty ? 1 : 0);
  });
}

function paintChecks(rng: Rng, c: Canvas, { a, b, cos, sin, period }: Ground): void {
  const rot = rng() < 0.5;
  fill(c, (x, y) => {
    const u = rot ? x * cos + y * sin : x,
      v = rot ? -x * sin + y * cos : y;
    return (mFloor(u / period) + mFloor(v / period)) & 1 ? b : a;
  });
}

function paintBlobs(rng: Rng, c: Canvas, { s, a, b }: Ground): void {
  fill(c, () => a);
  const n = randInt(rng, 3, 10);
  for (let i = 0; i < n; i++) {
    const col = rng() < 0.5 ? mix(a, randColour(rng, 10, 246), uniform(rng, 0.3, 1)) : b;
    const cx = rng() * s,
      cy = rng() * s,
      rx = s * uniform(rng, 0.05, 0.3),
      ry = rx * uniform(rng, 0.5, 1.5);
    paintEllipse(c, cx, cy, rx, ry, uniform(rng, 0, PI), col, uniform(rng, 0.5, 1), true);
  }
}

/** Voronoi cells of flat colours (the held-out family of the shifted split). */
function paintMosaic(rng: Rng, c: Canvas, { s, a }: Ground): void {
  const n = randInt(rng, 6, 24);
  const pts = Array.from({ length: n }, () => ({
    x: rng() * s,
    y: rng() * s,
    col: mix(a, randColour(rng, 10, 246), uniform(rng, 0.3, 1)),
  }));
  fill(c, (x, y) => {
    let best = pts[0]!,
      d = Infinity;
    for (const p of pts) {
      const dd = (p.x - x) ** 2 + (p.y - y) ** 2;
      if (dd < d) {
        d = dd;
        best = p;
      }
    }
    return best.col;
  });
}
