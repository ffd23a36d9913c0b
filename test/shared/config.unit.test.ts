/** Configuration: a bad value is one line naming the variable, whichever way it is read. */
import { configValue, loadConfig } from '@overmap/shared';

describe('configValue', () => {
  it('reads a value through the schema, with the default where unset', () => {
    expect(configValue('OVERMAP_ONNX_THREADS', { OVERMAP_ONNX_THREADS: '3' })).toBe(3);
    expect(configValue('OVERMAP_ONNX_THREADS', {})).toBe(1);
    expect(configValue('OVERMAP_QUEUE_PREFIX', { OVERMAP_QUEUE_PREFIX: '' })).toBe('bull');
  });

  it('refuses a bad value in one line, as loadConfig does, instead of falling back to the default', () => {
    const env = { OVERMAP_ONNX_THREADS: 'many' };
    expect(() => configValue('OVERMAP_ONNX_THREADS', env)).toThrow(
      /^bad environment: OVERMAP_ONNX_THREADS="many" \(.+\)$/,
    );
    expect(() => loadConfig(env)).toThrow(/^bad environment: OVERMAP_ONNX_THREADS="many" \(.+\)$/);
  });

  it('never prints a secret', () => {
    expect(() => configValue('OVERMAP_JOB_SECRET', { OVERMAP_JOB_SECRET: 'short' })).toThrow(
      'bad environment: OVERMAP_JOB_SECRET="***" (use at least 16 characters)',
    );
  });
});
