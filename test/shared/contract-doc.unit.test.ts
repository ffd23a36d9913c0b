/**
 * docs/contract.md lists every record field and every score the code writes, and nothing else:
 * the tables between its markers against RecordSchema and the score names.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { RecordSchema, SCORE_NAMES, SCORE_REGISTRY } from '@overmap/shared';

const DOC = readFileSync(path.resolve(__dirname, '../../docs/contract.md'), 'utf8');

/** The first column of the Markdown table between `<!-- name:start -->` and `<!-- name:end -->`. */
function rows(name: string): string[][] {
  const m = new RegExp(`<!-- ${name}:start -->([\\s\\S]*?)<!-- ${name}:end -->`).exec(DOC);
  if (!m) throw new Error(`docs/contract.md has no ${name} table`);
  return m[1]!
    .split('\n')
    .filter((line) => /^\| `[a-z_]+` \|/.test(line))
    .map((line) => line.split(' | ').map((cell) => cell.replace(/^\| /, '').replace(/`/g, '').trim()));
}
const documented = (name: string) => rows(name).map((r) => r[0]!);

describe('docs/contract.md', () => {
  it('documents exactly the record fields that RecordSchema defines, in order', () => {
    expect(documented('record-fields')).toEqual(Object.keys(RecordSchema.shape));
  });

  it('documents exactly the scores the records carry, in record order', () => {
    expect(documented('score-fields')).toEqual([...SCORE_NAMES]);
  });

  it("gives each score the registry's direction, and says which scores are not confidences", () => {
    const doc = new Map(rows('score-fields').map((r) => [r[0]!, r[1]!]));
    for (const s of SCORE_REGISTRY) {
      expect([s.name, doc.get(s.name)]).toEqual([s.name, s.confidence ? s.direction : '(not a confidence)']);
    }
  });
});
