import { describe, expect, it } from 'vitest';
import { lookupId, lookupPasswd, parseGetentPasswd } from './ids.js';

describe('the user database through getent (one parser for hooks, run-local and doctor)', () => {
  it('parses passwd lines, skipping malformed ones, with defaults for an empty home or shell', () => {
    expect(parseGetentPasswd(['alice:x:1000:1000:Alice:/home/alice:/bin/bash', 'broken:x:abc:1:::', 'bob:x:1001:100:::', ''].join('\n'))).toEqual([
      { name: 'alice', uid: 1000, gid: 1000, home: '/home/alice', shell: '/bin/bash' },
      { name: 'bob', uid: 1001, gid: 100, home: '/', shell: '/bin/sh' },
    ]);
  });

  it('finds root by its exact name, and nobody for a name that is not there', async () => {
    expect(await lookupPasswd('root')).toMatchObject({ name: 'root', uid: 0, gid: 0 });
    expect(await lookupPasswd('vtq-no-such-user-x')).toBeNull();
    expect(await lookupId('group', 'root')).toEqual({ name: 'root', id: 0 });
    expect(await lookupId('group', 'vtq-no-such-group-x')).toBeNull();
  });
});
