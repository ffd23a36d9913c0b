/**
 * The N best items of a stream by a rank (higher first) in O(N) memory: a binary min-heap
 * whose root is the worst item kept, replaced when a better one arrives. Ties are broken by
 * `tie` (smaller first), so the kept set does not depend on the order records arrive in.
 */
export class TopN<T> {
  private readonly heap: { rank: number; tie: string; item: T }[] = [];
  /** items offered, kept or not */
  seen = 0;

  constructor(readonly capacity: number) {}

  /** a worse than b: lower rank, or equal rank and a later tie-breaker */
  private static worse(a: { rank: number; tie: string }, b: { rank: number; tie: string }): boolean {
    return a.rank < b.rank || (a.rank === b.rank && a.tie > b.tie);
  }

  offer(rank: number, tie: string, item: T): void {
    this.seen++;
    if (this.capacity <= 0) return;
    const e = { rank, tie, item };
    const h = this.heap;
    if (h.length < this.capacity) {
      h.push(e);
      this.up(h.length - 1);
    } else if (TopN.worse(h[0]!, e)) {
      h[0] = e;
      this.down(0);
    }
  }

  get size(): number {
    return this.heap.length;
  }

  /** The kept items, best first. */
  sorted(): T[] {
    return [...this.heap].sort((a, b) => (TopN.worse(a, b) ? 1 : TopN.worse(b, a) ? -1 : 0)).map((e) => e.item);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!TopN.worse(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1,
        r = l + 1;
      let m = i;
      if (l < h.length && TopN.worse(h[l]!, h[m]!)) m = l;
      if (r < h.length && TopN.worse(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
