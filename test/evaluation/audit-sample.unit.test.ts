/**
 * The audit's sample and its answers: exactly N distinct scored records, every stratum (predicted
 * class × confidence quartile) in proportion, the same for the same seed; verified labels read
 * from CSV, JSONL and both Label Studio export formats, a key given twice refused.
 */
import { type ImageRecord, EMPTY_SCORES, errorRecord } from '@overmap/shared';
import { readVerified, stratifiedSample } from '@overmap/evaluation';

function rec(i: number): ImageRecord {
  const cls = i % 4;
  return {
    key: `k${String(i).padStart(4, '0')}.png`,
    label: null,
    status: 'ok',
    error: null,
    prediction: { class: `c${cls}`, index: cls, top: [{ class: `c${cls}`, p: 0.5 }] },
    scores: { ...EMPTY_SCORES, confidence: (i * 0.618) % 1 },
    accepted: null,
  };
}

describe('stratifiedSample', () => {
  const records = [...Array.from({ length: 400 }, (_, i) => rec(i)), errorRecord('bad.png', null, 'decode_error', 'x')];
  it('draws exactly N distinct scored records, each class and quartile in proportion', () => {
    const s = stratifiedSample(records, 80);
    expect(s).toHaveLength(80);
    expect(new Set(s.map((r) => r.key)).size).toBe(80);
    expect(s.some((r) => r.key === 'bad.png')).toBe(false);
    // 4 classes × 4 quartiles of 25 records each: 5 of each stratum
    for (let c = 0; c < 4; c++) {
      const ofClass = records.filter((r) => r.prediction?.index === c).map((r) => r.scores.confidence!);
      ofClass.sort((a, b) => a - b);
      const inSample = s.filter((r) => r.prediction!.index === c).map((r) => r.scores.confidence!);
      expect(inSample).toHaveLength(20);
      for (let q = 0; q < 4; q++) {
        const lo = ofClass[q * 25]!,
          hi = ofClass[q * 25 + 24]!;
        expect(inSample.filter((v) => v >= lo && v <= hi)).toHaveLength(5);
      }
    }
    expect(stratifiedSample(records, 80).map((r) => r.key)).toEqual(s.map((r) => r.key));
    expect(stratifiedSample(records, 1000)).toHaveLength(400);
  });
});

describe('readVerified', () => {
  it('reads CSV, JSONL and Label Studio exports (JSON and JSON-MIN)', () => {
    expect([...readVerified('key,label\na.png,Coat\nb.png,Bag\n', 'v.csv')]).toEqual([
      ['a.png', 'Coat'],
      ['b.png', 'Bag'],
    ]);
    expect([...readVerified('{"key":"a.png","label":"Coat"}\n', 'v.jsonl')]).toEqual([['a.png', 'Coat']]);
    const ls = [
      { data: { key: 'a.png' }, annotations: [{ result: [{ value: { choices: ['Coat'] } }] }] },
      { data: { key: 'b.png' }, annotations: [{ was_cancelled: true, result: [] }] },
      { data: { key: 'c.png' }, annotations: [] },
    ];
    expect([...readVerified(JSON.stringify(ls), 'export.json')]).toEqual([['a.png', 'Coat']]);
    expect([...readVerified(JSON.stringify([{ key: 'a.png', class: 'Bag', image: 'x' }]), 'min.json')]).toEqual([
      ['a.png', 'Bag'],
    ]);
  });

  it('refuses a key verified twice, and an export with no answer, in one line naming the file', () => {
    expect(() => readVerified('a.png,Coat\na.png,Bag\n', 'v.csv')).toThrow(
      /--verified v.csv gives 1 keys more than once/,
    );
    expect(() => readVerified('[{"data":{"key":"a"}}]', 'e.json')).toThrow(/--verified e.json holds no answered task/);
  });
});
