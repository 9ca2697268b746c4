// The public surface: what the README's library examples import must be exported from the package entry.
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';

describe('package entry', () => {
  it('exports the documented API', () => {
    expect(typeof api.StNet.load).toBe('function');
    expect(typeof api.StNet.prototype.predict).toBe('function');
    expect(typeof api.StNet.prototype.classify).toBe('function');
    expect(typeof api.StNet.prototype.videoClassification).toBe('function');
    expect(typeof api.StNet.prototype.close).toBe('function');
    expect(typeof api.loadVideo).toBe('function');
    expect(typeof api.loadWeights).toBe('function');
    expect(typeof api.exportOnnx).toBe('function');
    expect(typeof api.buildServer).toBe('function');
    expect(api.KINETICS400_LABELS[5]).toBe('archery');
    expect(api.STNET_PARAMS).toHaveLength(301);
    expect(api.LOAD_VIDEO_DEFAULTS).toEqual({ segNum: 25, seglen: 5, shortSize: 256, targetSize: 256 });
    expect(api.CLASSIFY_DEFAULTS.topK).toBe(5);
  });

  it('keeps the internal loading helpers off the public API', () => {
    expect('replicas' in api.StNet).toBe(false);
    expect(Object.keys(api)).not.toContain('loadStnetModels');
    expect(Object.keys(api)).not.toContain('loadModelBytes');
  });

  it('errors carry stable codes', () => {
    const err = new api.StnetError('E_VIDEO_NOT_FOUND', 'video not found: x.mp4');
    expect(api.isStnetError(err)).toBe(true);
    expect(err.toJSON()).toEqual({ code: 'E_VIDEO_NOT_FOUND', message: 'video not found: x.mp4' });
    expect(api.ERROR_CODES.E_VIDEO_NOT_FOUND.kind).toBe('input');
  });
});
