// An append-only text file written through a fixed buffer: lines are copied into it as bytes and
// the buffer is written when full, so neither memory nor garbage grows with the file. A `.gz` name
// writes each buffer as its own gzip member (gunzip reads the members as one stream).
import fs from 'node:fs';
import zlib from 'node:zlib';

const SIZE = 4 << 20;

export class ChunkFile {
  private fd: number;
  private buf = Buffer.allocUnsafe(SIZE);
  private pos = 0;
  private gzip: boolean;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'w');
    this.gzip = file.endsWith('.gz');
  }

  /** Lines not yet copied into the buffer: joined as one string, copied once per ~64 KiB. */
  private pending = '';

  /** Appends `s` and a newline (ASCII text). */
  line(s: string): void {
    this.pending += s + '\n';
    if (this.pending.length >= 1 << 16) this.copy();
  }

  private copy(): void {
    const s = this.pending;
    this.pending = '';
    if (this.pos + s.length > SIZE) {
      this.flush();
      if (s.length > SIZE) {
        this.write(Buffer.from(s, 'latin1'));
        return;
      }
    }
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }

  private write(b: Buffer): void {
    if (this.gzip) fs.writeSync(this.fd, zlib.gzipSync(b, { level: 1 }));
    else fs.writeSync(this.fd, b);
  }

  flush(): void {
    this.copy();
    if (this.pos) this.write(this.buf.subarray(0, this.pos));
    this.pos = 0;
  }

  close(): void {
    this.flush();
    fs.closeSync(this.fd);
  }
}
