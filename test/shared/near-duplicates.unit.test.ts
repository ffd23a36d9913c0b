/**
 * Near-duplicate grouping against a brute-force oracle: every pair compared, joined within k,
 * groups taken transitively. The block tables must find exactly the same groups (they are exact
 * by the pigeonhole argument), for several k and set sizes, with identical hashes and chains.
 */
import seedrandom from 'seedrandom';
import { chooseBlocks, groupNearDuplicates, parseHash64, popcount32, sortByKey } from '@overmap/shared';

function bruteForce(hi: Uint32Array, lo: Uint32Array, k: number): Int32Array {
  const n = hi.length;
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  for (let a = 0; a < n; a++)
    for (let b = a + 1; b < n; b++)
      if (popcount32(hi[a]! ^ hi[b]!) + popcount32(lo[a]! ^ lo[b]!) <= k) {
        const [ra, rb] = [find(a), find(b)];
        parent[Math.max(ra, rb)] = Math.min(ra, rb);
      }
  const size = new Map<number, number>();
  for (let i = 0; i < n; i++) size.set(find(i), (size.get(find(i)) ?? 0) + 1);
  return Int32Array.from({ length: n }, (_, i) => (size.get(find(i))! > 1 ? find(i) : -1));
}

/** n random hashes, a third of them copies of an earlier one with up to `flips` bits flipped. */
function plantedHashes(n: number, flips: number, seed: string): [Uint32Array, Uint32Array] {
  const rng = seedrandom(seed);
  const u32 = () => Math.floor(rng() * 2 ** 32) >>> 0;
  const hi = new Uint32Array(n),
    lo = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (i > 0 && rng() < 1 / 3) {
      const src = Math.floor(rng() * i);
      hi[i] = hi[src]!;
      lo[i] = lo[src]!;
      for (let f = Math.floor(rng() * (flips + 1)); f > 0; f--) {
        const bit = Math.floor(rng() * 64);
        if (bit < 32) hi[i] = (hi[i]! ^ (1 << bit)) >>> 0;
        else lo[i] = (lo[i]! ^ (1 << (bit - 32))) >>> 0;
      }
    } else {
      hi[i] = u32();
      lo[i] = u32();
    }
  }
  return [hi, lo];
}

describe('groupNearDuplicates', () => {
  it.each([
    [0, 600],
    [3, 600],
    [6, 1500],
    [10, 800],
  ])('finds exactly the brute-force groups at k = %i (%i hashes)', (k, n) => {
    const [hi, lo] = plantedHashes(n, k + 2, `k${k}`);
    const g = groupNearDuplicates(hi, lo, k);
    expect(Array.from(g.first)).toEqual(Array.from(bruteForce(hi, lo, k)));
    expect(g.groups).toBe(new Set(Array.from(g.first).filter((f) => f >= 0)).size);
    for (let i = 0; i < n; i++) {
      const f = g.first[i]!;
      const d = f < 0 ? 0 : popcount32(hi[i]! ^ hi[f]!) + popcount32(lo[i]! ^ lo[f]!);
      expect(g.distance[i]).toBe(d);
    }
  });

  it('merges identical hashes before the tables: 2,000 copies of one hash cost no pairwise comparison', () => {
    const hi = new Uint32Array(2000).fill(0xdeadbeef),
      lo = new Uint32Array(2000).fill(7);
    const g = groupNearDuplicates(hi, lo, 4);
    expect(g.groups).toBe(1);
    expect(g.comparisons).toBe(0);
    expect(new Set(g.first)).toEqual(new Set([0]));
  });

  it('joins chains transitively and keeps the lowest index as the first member', () => {
    // 0 -- 3 bits -- 1 -- 3 bits -- 2: 0 and 2 are 6 apart, one group at k = 3
    const hi = Uint32Array.from([0, 0b111, 0b111111]),
      lo = new Uint32Array(3);
    expect(Array.from(groupNearDuplicates(hi, lo, 3).first)).toEqual([0, 0, 0]);
    expect(Array.from(groupNearDuplicates(hi, lo, 2).first)).toEqual([-1, -1, -1]);
  });

  it('refuses a distance outside 0-16, and a hash that is not 16 hex digits', () => {
    expect(() => groupNearDuplicates(new Uint32Array(1), new Uint32Array(1), 17)).toThrow(/0-16/);
    expect(() => parseHash64('xyz')).toThrow(/64-bit hex/);
    expect(parseHash64('ffffffff00000001')).toEqual([0xffffffff, 1]);
  });

  it('sorts by key stably and chooses more blocks for larger sets', () => {
    const key = Uint32Array.from([5, 0xffffffff, 5, 0, 70000]);
    expect(Array.from(sortByKey(key))).toEqual([3, 0, 2, 4, 1]);
    expect(chooseBlocks(1e6, 6)).toBeGreaterThan(chooseBlocks(100, 6));
  });
});
