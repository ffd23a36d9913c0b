/** The records' `issue` rule: each branch, in its order, and the default label threshold 1 / classes. */
import { DEFAULT_ROUTING, RoutingSchema, routeIssue, type RoutingInput } from '@overmap/shared';

const base: RoutingInput = { status: 'ok', accepted: true, disagrees: false, labelQuality: 0.9, gradcamSeg: 0.8 };
const route = (x: Partial<RoutingInput>, routing = DEFAULT_ROUTING, classes = 10) =>
  routeIssue({ ...base, ...x }, routing, classes);

describe('routeIssue', () => {
  it('sends each case to its issue, first match winning', () => {
    expect(route({})).toBe('none');
    expect(route({ status: 'decode_error', accepted: null, disagrees: null })).toBe('bad_image');
    // a confident prediction against a label the model finds unlikely: a label error, accepted or not
    expect(route({ disagrees: true, labelQuality: 0.05 })).toBe('label_error');
    expect(route({ disagrees: true, labelQuality: 0.05, accepted: false })).toBe('label_error');
    // disagreeing, but the label is still plausible: routed by the prediction
    expect(route({ disagrees: true, labelQuality: 0.3 })).toBe('none');
    expect(route({ accepted: false, status: 'no_mask', gradcamSeg: 0 })).toBe('unknown_object');
    expect(route({ accepted: false, gradcamSeg: 0.2 })).toBe('off_object');
    expect(route({ accepted: false, gradcamSeg: 0.7 })).toBe('low_confidence');
    // no label: never a label error
    expect(route({ disagrees: null, labelQuality: null, accepted: false, gradcamSeg: 0.7 })).toBe('low_confidence');
  });

  it('takes 1 / classes as the default label threshold, and the spec values where given', () => {
    expect(route({ disagrees: true, labelQuality: 0.15 }, DEFAULT_ROUTING, 10)).toBe('none');
    expect(route({ disagrees: true, labelQuality: 0.15 }, DEFAULT_ROUTING, 5)).toBe('label_error');
    const strict = RoutingSchema.parse({ labelErrorBelow: 0.01, offObjectBelow: 0.9 });
    expect(route({ disagrees: true, labelQuality: 0.05 }, strict)).toBe('none');
    expect(route({ accepted: false, gradcamSeg: 0.7 }, strict)).toBe('off_object');
    expect(() => RoutingSchema.parse({ labelErrorBelow: 2 })).toThrow();
  });
});
