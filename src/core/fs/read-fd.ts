import { readSync } from 'node:fs';

/** Read `size` bytes (or up to EOF, if the file shrank) from an already opened and checked fd. */
export function readFdFully(fd: number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}
