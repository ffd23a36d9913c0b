/**
 * The counts of an enqueue as its listing moves on: reported through `onProgress`, saved in
 * the run's Redis state with the cursor (batches, images, skipped), and read back from there
 * by a resumed listing.
 */
export interface EnqueueProgress {
  listed: number;
  images: number;
  skipped: number;
  batches: number;
  added: number;
  done: boolean;
}

/** The counts Redis keeps with the cursor. */
export interface SavedCounts {
  batches: number;
  images: number;
  skipped: number;
}

export class EnqueueCounts {
  /** keys read from the source by this pass */
  listed = 0;
  images = 0;
  skipped = 0;
  /** batches cut so far: the index of the next one */
  batches = 0;
  /** jobs added by this pass */
  added = 0;

  constructor(private readonly onProgress?: (p: EnqueueProgress) => void) {}

  /** A resumed listing goes on from the counts saved with its cursor (listed and added start again). */
  static resumed(state: Record<string, string>, onProgress?: (p: EnqueueProgress) => void): EnqueueCounts {
    const c = new EnqueueCounts(onProgress);
    c.batches = Number(state.batches ?? 0);
    c.images = Number(state.images ?? 0);
    c.skipped = Number(state.skipped ?? 0);
    return c;
  }

  snapshot(done: boolean): EnqueueProgress {
    const { listed, images, skipped, batches, added } = this;
    return { listed, images, skipped, batches, added, done };
  }

  /** Hands the counts to `onProgress`; returns them. */
  report(done = false): EnqueueProgress {
    const p = this.snapshot(done);
    this.onProgress?.(p);
    return p;
  }

  saved(): SavedCounts {
    return { batches: this.batches, images: this.images, skipped: this.skipped };
  }
}
