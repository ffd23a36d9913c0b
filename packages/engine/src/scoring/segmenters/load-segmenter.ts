/** The segmenter factory: the spec's `segmenter` validated, its model (if any) loaded. */
import { ModelSpecError, isAbsoluteUri, openObject } from '@overmap/shared/core';
import { loadGraphModel, loadLayersModel } from '../../model/load-models';
import type { LoadedSpec } from '../../model/model-spec';
import { BoxesSegmenter, parseBoxesFile } from './boxes-segmenter';
import { DetectorSegmenter } from './detector-segmenter';
import { ModelSegmenter } from './model-segmenter';
import { OnnxDetectorSegmenter } from './onnx-detector-segmenter';
import { OnnxModelSegmenter } from './onnx-model-segmenter';
import { SaliencySegmenter } from './saliency-segmenter';
import type { Segmenter } from './segmenter';

export async function loadSegmenter(loaded: LoadedSpec): Promise<Segmenter> {
  const s = loaded.spec.segmenter;
  switch (s.type) {
    case 'model':
      if (s.format === 'onnx') return OnnxModelSegmenter.load(loaded, s);
      return new ModelSegmenter(await loadLayersModel(loaded, s.model, 'segmenter'), s);
    case 'detector': {
      if (s.format === 'onnx') return OnnxDetectorSegmenter.load(loaded, s);
      const model =
        s.format === 'graph'
          ? await loadGraphModel(loaded, s.model, 'detector')
          : await loadLayersModel(loaded, s.model, 'detector');
      return new DetectorSegmenter(model, s);
    }
    case 'boxes': {
      // A relative source sits next to the spec (and is in its hash); an absolute one is read as given.
      const raw = isAbsoluteUri(s.source)
        ? await (({ store, key }) => store.getIfExists(key))(openObject(s.source, 'boxes URI'))
        : await loaded.store.getIfExists(s.source);
      if (!raw) throw new ModelSpecError(`segmenter boxes file ${s.source} named in ${loaded.uri} not found`);
      return new BoxesSegmenter(parseBoxesFile(raw.toString('utf8'), s.source, s.minScore));
    }
    case 'saliency':
      return new SaliencySegmenter(s.blur);
  }
}
