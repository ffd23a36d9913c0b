/** How a run's batches map onto jobs: single jobs first, then aligned groups (queue.ts). */
import { groupStart, jobCount, jobGroups } from '@overmap/shared';

describe('job grouping', () => {
  it('gives the first ungroupedBatches a job each, then groups of jobBatches, the last one cut at the total', () => {
    const g = { jobBatches: 4, ungroupedBatches: 3 };
    expect([...jobGroups(12, g)]).toEqual([
      { first: 0, count: 1 },
      { first: 1, count: 1 },
      { first: 2, count: 1 },
      { first: 3, count: 4 },
      { first: 7, count: 4 },
      { first: 11, count: 1 },
    ]);
    expect(jobCount(12, g)).toBe(6);
    // every batch's group starts where jobGroups says it does
    for (const { first, count } of jobGroups(12, g))
      for (let b = first; b < first + count; b++) expect(groupStart(b, g)).toBe(first);
  });

  it('covers every batch exactly once, and counts its jobs, for many shapes', () => {
    for (const jobBatches of [1, 2, 5, 16]) {
      for (const ungroupedBatches of [0, 1, 7, 256]) {
        for (const batches of [0, 1, 6, 17, 300]) {
          const g = { jobBatches, ungroupedBatches };
          const groups = [...jobGroups(batches, g)];
          expect(groups.reduce((a, x) => a + x.count, 0)).toBe(batches);
          groups.forEach((x, i) => i > 0 && expect(x.first).toBe(groups[i - 1]!.first + groups[i - 1]!.count));
          expect(jobCount(batches, g)).toBe(groups.length);
        }
      }
    }
  });

  it('a run small enough stays one job per batch (3,072 images at the defaults: 48 jobs, not 3)', () => {
    expect(jobCount(48, { jobBatches: 16, ungroupedBatches: 256 })).toBe(48);
    // a million images: 256 single jobs, then groups of 16
    expect(jobCount(15_625, { jobBatches: 16, ungroupedBatches: 256 })).toBe(256 + Math.ceil((15_625 - 256) / 16));
  });
});
