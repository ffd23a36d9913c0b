/**
 * Every object of a model spec is strict: an unknown (misspelt) field is a one-line
 * ModelSpecError naming the spec, the field's path and the nearest known name, never a field
 * dropped silently for its default. Every committed spec still reads.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ModelSpecError } from '@overmap/shared';
import { readSpec } from '@overmap/engine';
import { ROOT, tmpDir } from '../helpers/services';

let dir: string;
beforeAll(async () => {
  dir = await tmpDir();
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

const base = {
  name: 'dev',
  classes: ['a', 'b'],
  classifier: {
    model: 'classifier/model.json',
    inputSize: [64, 64],
    normalization: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
  },
  gradcamLayer: 'gradcam_conv',
  attentionLayers: ['spatial_attention'],
  segmenter: { type: 'model', model: 'segmenter/model.json', threshold: 0.5 },
  notes: 'free text, kept',
};

async function specFile(name: string, spec: unknown): Promise<string> {
  const file = path.join(dir, `${name}.json`);
  await fs.writeFile(file, JSON.stringify(spec));
  return file;
}

/** The error readSpec throws for a spec. */
async function errorOf(name: string, spec: unknown): Promise<Error> {
  const file = await specFile(name, spec);
  const e = await readSpec(file).then(
    () => undefined,
    (x: Error) => x,
  );
  if (!e) throw new Error(`${name}: read without an error`);
  expect(e).toBeInstanceOf(ModelSpecError);
  return e;
}

describe('model spec fields', () => {
  it('a misspelt "normalisation" names its path and "normalization"', async () => {
    const { normalization, ...classifier } = base.classifier;
    const file = path.join(dir, 'normalisation.json');
    const e = await errorOf('normalisation', { ...base, classifier: { ...classifier, normalisation: normalization } });
    expect(e.message).toBe(`unknown field "classifier.normalisation" in ${file}: did you mean "normalization"?`);
  });

  it('a misspelt "attentionLayer" names "attentionLayers"', async () => {
    const { attentionLayers, ...rest } = base;
    const e = await errorOf('attention', { ...rest, attentionLayer: attentionLayers });
    expect(e.message).toBe(
      `unknown field "attentionLayer" in ${path.join(dir, 'attention.json')}: did you mean "attentionLayers"?`,
    );
  });

  it("looks in the segmenter of the spec's type, in nested objects, and names every unknown field on one line", async () => {
    const e = await errorOf('nested', {
      ...base,
      segmenter: { type: 'model', model: 'segmenter/model.json', treshold: 0.5 },
      combine: { rule: 'weighted', weights: { gradcam_seg: 1, attention_seg: 0, gradcam_atention: 1 } },
    });
    const file = path.join(dir, 'nested.json');
    expect(e.message).toBe(
      `unknown field "segmenter.treshold" in ${file}: did you mean "threshold"?; unknown field "combine.weights.gradcam_atention" in ${file}: did you mean "gradcam_attention"?`,
    );
    expect(e.message).not.toContain('\n');
  });

  it('a field far from every known name is to be removed, with the known ones listed', async () => {
    const e = await errorOf('far', { ...base, overlap: { measure: 'iou', binarize: 0.7, colour: 'red' } });
    expect(e.message).toBe(
      `unknown field "overlap.colour" in ${path.join(dir, 'far.json')}: remove it (the fields there are measure, binarize)`,
    );
  });

  it('a correct spec reads, its notes included, its defaults filled', async () => {
    const { spec } = await readSpec(await specFile('good', base));
    expect(spec.notes).toBe('free text, kept');
    expect(spec.classifier.normalization).toEqual(base.classifier.normalization);
    expect(spec.overlap).toEqual({ measure: 'mass', binarize: 0.5 });
  });

  it('every committed spec under models/ reads', async () => {
    const specs: string[] = [];
    for (const d of await fs.readdir(path.join(ROOT, 'models'))) {
      for (const f of await fs.readdir(path.join(ROOT, 'models', d)).catch(() => []))
        if (/^overmap-model.*\.json$/.test(f)) specs.push(path.join(ROOT, 'models', d, f));
    }
    expect(specs.length).toBeGreaterThanOrEqual(11);
    for (const s of specs) await expect(readSpec(s)).resolves.toMatchObject({ uri: s });
  });
});
