/**
 * Near-duplicate groups of 64-bit perceptual hashes: every pair within Hamming distance k is
 * found, exactly, by the block-permutation tables of Manku, Jain and Das Sarma (WWW 2007): cut
 * the 64 bits into m blocks; two hashes within distance k differ in at most k blocks, so they
 * agree on some m − k of them, and the table keyed by those blocks puts them in one bucket. Each
 * of the C(m, k) tables is a radix sort of 32-bit keys (O(n)), each bucket's members are compared
 * pairwise, and pairs within k are joined (union-find; groups are transitive). Identical hashes are
 * merged first, so a thousand blank images cost one representative, not a million comparisons.
 * m is chosen for the set's size (more blocks: longer keys and smaller buckets, more tables).
 *
 * Memory: about 30 bytes per hash (the hashes, one table's keys and order, the union-find), so
 * 10⁶ hashes take about 30 MB; docs/deploy.md estimates 10⁸.
 */

/** Below this luma entropy (bits) an image is too flat for its perceptual hash to mean anything. */
export const MIN_HASH_ENTROPY = 1;

/**
 * The 64-bit hash an image is grouped by: its perceptual hash; for a (nearly) flat image, whose
 * perceptual hash is rounding noise, the first 64 bits of its content hash instead (equal for
 * byte-identical copies, ~32 bits apart otherwise).
 */
export function groupingHash(m: { entropy: number; phash: string; content_hash: string }): [number, number] {
  return parseHash64(m.entropy < MIN_HASH_ENTROPY ? m.content_hash.slice(0, 16) : m.phash);
}

/** The hash of 16 hex digits as its high and low 32 bits. */
export function parseHash64(hex: string): [number, number] {
  if (!/^[0-9a-f]{16}$/.test(hex)) throw new Error(`not a 64-bit hex hash: ${JSON.stringify(hex)}`);
  return [parseInt(hex.slice(0, 8), 16) >>> 0, parseInt(hex.slice(8), 16) >>> 0];
}

export function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Bits [a, a + len) of the 64-bit (hi, lo), bit 0 the top bit of hi; len ≤ 32. */
function bitsOf(hi: number, lo: number, a: number, len: number): number {
  if (len === 0) return 0;
  const end = a + len;
  if (end <= 32) return len === 32 ? hi >>> 0 : (hi >>> (32 - end)) & ((1 << len) - 1);
  if (a >= 32) return bitsOf(lo, 0, a - 32, len);
  const fromHi = 32 - a,
    fromLo = len - fromHi;
  return (
    ((((hi & ((1 << fromHi) - 1)) << fromLo) | (lo >>> (32 - fromLo))) >>> 0) &
    (len === 32 ? 0xffffffff : (1 << len) - 1)
  );
}

/** Scratch arrays for sortByKey, reused across the tables (no garbage per table). */
export interface SortScratch {
  a: Uint32Array;
  b: Uint32Array;
  count: Uint32Array;
}
export const sortScratch = (n: number): SortScratch => ({
  a: new Uint32Array(n),
  b: new Uint32Array(n),
  count: new Uint32Array(65537),
});

/** Indices 0..n-1 sorted by `key` (LSD radix sort, two 16-bit digits; stable): one of the scratch arrays. */
export function sortByKey(key: Uint32Array, scratch: SortScratch = sortScratch(key.length)): Uint32Array {
  const n = key.length;
  let order = scratch.a,
    next = scratch.b;
  for (let i = 0; i < n; i++) order[i] = i;
  const count = scratch.count;
  for (const shift of [0, 16]) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[((key[i]! >>> shift) & 0xffff) + 1]!++;
    for (let d = 0; d < 65536; d++) count[d + 1]! += count[d]!;
    for (let i = 0; i < n; i++) {
      const j = order[i]!;
      next[count[(key[j]! >>> shift) & 0xffff]!++] = j;
    }
    [order, next] = [next, order];
  }
  return order;
}

function combinations(m: number, r: number): number[][] {
  // (at most C(16, 8) = 12,870 tables: small)
  const out: number[][] = [];
  const pick = (from: number, acc: number[]) => {
    if (acc.length === r) return void out.push([...acc]);
    for (let i = from; i < m; i++) pick(i + 1, [...acc, i]);
  };
  pick(0, []);
  return out;
}

/** C(m, r), without listing the combinations. */
const choose = (m: number, r: number) => {
  let c = 1;
  for (let i = 1; i <= r; i++) c = (c * (m - r + i)) / i;
  return Math.round(c);
};

/** Blocks for n hashes at distance k: the m minimising tables × (n + expected pairs per table). */
export function chooseBlocks(n: number, k: number): number {
  let best = k + 1,
    bestCost = Infinity;
  for (let m = k + 1; m <= Math.min(16, k + 8); m++) {
    const keyBits = Math.min(32, Math.floor((64 * (m - k)) / m));
    const cost = choose(m, k) * (n + (n * n) / 2 ** keyBits);
    if (cost < bestCost) [best, bestCost] = [m, cost];
  }
  return best;
}

export interface NearDuplicateGroups {
  /** per hash: the index of its group's first (lowest-index) member, or -1 where it has no copy */
  first: Int32Array;
  /** per hash: its Hamming distance to its group's first member (0 for the first, and alone) */
  distance: Uint8Array;
  groups: number;
  /** pairs compared, and tables sorted (for the benchmark) */
  comparisons: number;
  tables: number;
}

class UnionFind {
  readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(i: number): number {
    const p = this.parent;
    while (p[i] !== i) i = p[i] = p[p[i]!]!;
    return i;
  }
  /** joins two sets under the lower root, so a root is its set's lowest index */
  union(a: number, b: number): void {
    const ra = this.find(a),
      rb = this.find(b);
    if (ra < rb) this.parent[rb] = ra;
    else if (rb < ra) this.parent[ra] = rb;
  }
}

/** Representatives of the distinct hashes (identical ones joined in `uf`): their indices. */
function distinctHashes(hi: Uint32Array, lo: Uint32Array, uf: UnionFind): Uint32Array {
  const byLo = Uint32Array.from(sortByKey(lo));
  const hiInLoOrder = Uint32Array.from(byLo, (i) => hi[i]!);
  const byHi = sortByKey(hiInLoOrder);
  const order = byLo.map((_, j) => byLo[byHi[j]!]!);
  const reps = new Uint32Array(order.length);
  let count = 0;
  for (let s = 0; s < order.length;) {
    let e = s + 1;
    while (e < order.length && hi[order[e]!] === hi[order[s]!] && lo[order[e]!] === lo[order[s]!]) {
      uf.union(order[s]!, order[e]!);
      e++;
    }
    reps[count++] = order[s]!;
    s = e;
  }
  return reps.slice(0, count);
}

/** Joins, in `uf`, every pair of `reps` within distance k; returns the pairs compared. */
function joinWithinK(hi: Uint32Array, lo: Uint32Array, reps: Uint32Array, k: number, m: number, uf: UnionFind): number {
  const edges = Array.from({ length: m + 1 }, (_, j) => Math.floor((64 * j) / m));
  const keys = new Uint32Array(reps.length);
  const scratch = sortScratch(reps.length);
  let comparisons = 0;
  for (const table of combinations(m, m - k)) {
    for (let r = 0; r < reps.length; r++) {
      const i = reps[r]!;
      let key = 0,
        used = 0;
      for (const b of table) {
        const len = Math.min(edges[b + 1]! - edges[b]!, 32 - used);
        if (len <= 0) break;
        key = ((len === 32 ? 0 : key << len) | bitsOf(hi[i]!, lo[i]!, edges[b]!, len)) >>> 0;
        used += len;
      }
      keys[r] = key;
    }
    const order = sortByKey(keys, scratch);
    for (let s = 0; s < order.length;) {
      let e = s + 1;
      while (e < order.length && keys[order[e]!] === keys[order[s]!]) e++;
      for (let x = s; x < e; x++)
        for (let y = x + 1; y < e; y++) {
          const a = reps[order[x]!]!,
            b = reps[order[y]!]!;
          comparisons++;
          if (popcount32(hi[a]! ^ hi[b]!) + popcount32(lo[a]! ^ lo[b]!) <= k) uf.union(a, b);
        }
      s = e;
    }
  }
  return comparisons;
}

/** The groups of hashes within Hamming distance k of another (transitively). */
export function groupNearDuplicates(hi: Uint32Array, lo: Uint32Array, k: number): NearDuplicateGroups {
  if (!(Number.isInteger(k) && k >= 0 && k <= 16))
    throw new Error(`near-duplicate distance must be an integer 0-16, not ${k}`);
  const n = hi.length;
  const uf = new UnionFind(n);
  const reps = distinctHashes(hi, lo, uf);
  const m = k === 0 ? 1 : chooseBlocks(reps.length, k);
  const comparisons = k === 0 ? 0 : joinWithinK(hi, lo, reps, k, m, uf);
  const size = new Uint32Array(n);
  for (let i = 0; i < n; i++) size[uf.find(i)]!++;
  const first = new Int32Array(n).fill(-1);
  const distance = new Uint8Array(n);
  let groups = 0;
  for (let i = 0; i < n; i++) {
    const root = uf.find(i);
    if (size[root]! < 2) continue;
    if (root === i) groups++;
    first[i] = root;
    distance[i] = popcount32(hi[i]! ^ hi[root]!) + popcount32(lo[i]! ^ lo[root]!);
  }
  return { first, distance, groups, comparisons, tables: k === 0 ? 0 : choose(m, k) };
}
