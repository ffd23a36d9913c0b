/**
 * The decision's choice on validation: SIRC's a and b from the secondary's mean and standard
 * deviation (an analytic case), the metrics of a rule on known and unknown pools, and the choice:
 * on records where a secondary marks every unknown image and says nothing of errors, SIRC with
 * it wins; where no secondary helps, the softmax stays.
 */
import { DECISION_SECONDARIES, type ImageRecord, EMPTY_SCORES, decisionScore, sirc } from '@overmap/shared';
import { C_GRID, K_GRID, type ScoredRecord, chooseDecision, decisionMetrics, sircParams } from '@overmap/evaluation';

function rec(msp: number, attention: number, key: string): ImageRecord {
  return {
    key,
    label: null,
    status: 'ok',
    error: null,
    prediction: { class: 'a', index: 0, top: [{ class: 'a', p: msp }] },
    scores: { ...EMPTY_SCORES, msp, margin: msp / 2, overmap: attention, attention_seg: attention },
    accepted: null,
  };
}
const known = (n: number): ScoredRecord[] =>
  Array.from({ length: n }, (_, i) => {
    const msp = 0.3 + (0.7 * i) / n;
    // errors are the less confident ones, more often; attention lies on the object for every known image
    const correct = (i * 7919) % 100 < 100 * msp;
    return { record: rec(msp, 0.8 + 0.1 * ((i % 5) / 5), `k${i}`), label: 0, pred: 0, correct, correctTop3: true };
  });
// unknown images: confident softmax, attention off the object
const unknown = (n: number) => Array.from({ length: n }, (_, i) => rec(0.6 + (0.4 * i) / n, 0.1, `u${i}`));

describe('decision choice', () => {
  it("SIRC's a and b: mean − k·std and c / std of the secondary", () => {
    const rs = [0.2, 0.4, 0.6, 0.8].map((v, i) => rec(0.5, v, `r${i}`));
    // mean 0.5, population std √0.05
    const sd = Math.sqrt(0.05);
    expect(sircParams(rs, 'attention_seg', 2, 3)).toEqual({
      a: Math.round((0.5 - 2 * sd) * 1e4) / 1e4,
      b: Math.round((3 / sd) * 1e4) / 1e4,
    });
  });

  it('measures a rule by recomputing the decision score from the records', () => {
    const d = { rule: 'sirc' as const, primary: 'msp' as const, secondary: 'attention_seg' as const, a: 0.5, b: 10 };
    const r = rec(0.9, 0.1, 'x');
    expect(decisionScore(r.scores, d)).toBeCloseTo(sirc(0.9, 0.1, 0.5, 10), 12);
    const m = decisionMetrics(d, known(200), unknown(100));
    const soft = decisionMetrics({ ...d, rule: 'softmax' }, known(200), unknown(100));
    expect(m.aurocUnknown).toBeGreaterThan(0.95); // attention off the object sinks the unknowns
    expect(soft.aurocUnknown).toBeLessThan(0.6);
    expect(m.augrcId).toBeCloseTo(soft.augrcId, 2); // on the known images attention is high: little changes
  });

  it('chooses SIRC with the secondary that marks the unknowns, and the softmax where none does', () => {
    const c = chooseDecision(known(300), unknown(150));
    expect([c.best.d.rule, c.best.d.secondary]).toEqual(['sirc', expect.stringMatching(/overmap|attention_seg/)]);
    expect(c.best.augrcId).toBeLessThanOrEqual(c.msp.augrcId * 1.02);
    // every candidate: the softmax alone (2 primaries), and SIRC per primary × secondary × k × c
    expect(c.rows).toHaveLength(2 + 2 * DECISION_SECONDARIES.length * K_GRID.length * C_GRID.length);
  });
});
