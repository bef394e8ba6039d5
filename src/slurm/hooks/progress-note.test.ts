import { describe, expect, it } from 'vitest';
import { adminCommentProgress } from './progress-note.js';

describe("the start's progress in AdminComment", () => {
  it('sends the first line at once, then at most one per gap (the last of a burst), and the final line on flush', async () => {
    const sent: string[] = [];
    const p = adminCommentProgress({ note: async (_id, text) => void sent.push(text) }, '7', 100);
    p.line('planned 1 VM');
    p.line('disks ready');
    p.line('starting VMs');
    await new Promise((r) => setTimeout(r, 30));
    expect(sent).toEqual(['vTorque: planned 1 VM']);
    await new Promise((r) => setTimeout(r, 120));
    expect(sent).toEqual(['vTorque: planned 1 VM', 'vTorque: starting VMs']);
    p.line('addresses');
    await p.flush('1 VM(s) ready in 20 s');
    expect(sent).toEqual(['vTorque: planned 1 VM', 'vTorque: starting VMs', 'vTorque: 1 VM(s) ready in 20 s']);
  });
  it('a failing update is lost, nothing else', async () => {
    const p = adminCommentProgress({ note: async () => { throw new Error('controller down'); } }, '7', 10);
    p.line('x');
    await expect(p.flush('y')).resolves.toBeUndefined();
  });
});
