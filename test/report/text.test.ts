import { describe, expect, it } from 'vitest';
import { progressBar, truncateBytes, truncateChars } from '../../src/report/index.js';

describe('truncateBytes', () => {
  it('leaves short text alone and cuts long text on a character boundary', () => {
    expect(truncateBytes('abc', 3, '…')).toBe('abc');
    // 'é' is 2 bytes, '😀' 4: a 5-byte cut must not split either.
    expect(truncateBytes('éé😀', 5)).toBe('éé');
    expect(truncateBytes('é😀x', 5)).toBe('é');
    for (let max = 3; max < 40; max++) {
      const cut = truncateBytes('aé€😀'.repeat(5), max, '…');
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(max);
      expect(cut).not.toContain('\uFFFD');
    }
  });

  it('appends the suffix only when it cut', () => {
    expect(truncateBytes('x'.repeat(20), 10, ' [cut]')).toBe('xxxx [cut]');
    expect(() => truncateBytes('x'.repeat(20), 3, ' [cut]')).toThrow(RangeError);
  });
});

describe('truncateChars', () => {
  it('counts code points, not UTF-16 units', () => {
    expect(truncateChars('😀'.repeat(300), 255)).toBe('😀'.repeat(254) + '…');
    expect(Array.from(truncateChars('😀'.repeat(300), 255))).toHaveLength(255);
  });
});

describe('progressBar', () => {
  it('clamps and rounds', () => {
    expect(progressBar(0.5, 10)).toBe('█████░░░░░ 50%');
    expect(progressBar(2, 4)).toBe('████ 100%');
    expect(progressBar(Number.NaN, 4)).toBe('░░░░ 0%');
  });
});
