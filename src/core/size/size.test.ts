import { describe, expect, it } from 'vitest';
import { parseMiB, parseMiBWithin } from './size.js';

describe('the one size grammar of vTorque values (-vm ram=, unclot_shmem=, config sizes)', () => {
  it('a bare number is MiB; K/M/G/T scale by 1024 with an optional B or iB, any case; KiB round up', () => {
    expect(['2048', '2048M', '2048MB', '2048MiB', '2G', '2g', '2gib', ' 2 G '].map(parseMiB)).toEqual(Array(8).fill(2048));
    expect(parseMiB('1T')).toBe(1024 * 1024);
    expect(parseMiB('1K')).toBe(1);
    expect(parseMiB('1025k')).toBe(2);
  });
  it('anything else is not a size: fractions, signs, other units, Torque\'s forms, overlong text', () => {
    for (const t of ['', '1.5G', '-1', '+2G', '2P', '2 GB extra', '2gb2', '0x10', '1e3', `${'9'.repeat(16)}`, ' '.repeat(30)]) expect(parseMiB(t), t).toBeUndefined();
    expect(parseMiB('8gb')).toBe(8192); // the same value in Torque's spelling reads the same
    expect(parseMiB('8w')).toBeUndefined(); // Torque's words are Torque's grammar only
  });
  it('within a range', () => {
    expect(parseMiBWithin('64M', 64, 1024)).toBe(64);
    expect(parseMiBWithin('63', 64, 1024)).toBeUndefined();
    expect(parseMiBWithin('2G', 64, 1024)).toBeUndefined();
  });
});
