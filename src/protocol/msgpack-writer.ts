/**
 * The msgpack writer of the one-pass body encoders (encode-batch.ts on the client,
 * encode-deliver.ts on the server): headers at their minimal width, as msgpackr writes them,
 * into a buffer the encoder sized beforehand (no bounds checks here). Where the bytes go and
 * how long they live is the encoder's choice: it sets `buf` and `p`.
 */
export class MsgpackWriter {
  /** The next byte goes to `buf[p]`. */
  p = 0;

  constructor(public buf: Buffer) {}

  /** A map key made by `keyBytes`. */
  key(k: Buffer): void {
    const { buf } = this;
    let p = this.p;
    for (let i = 0; i < k.length; i++) buf[p++] = k[i]!;
    this.p = p;
  }

  byte(b: number): void {
    this.buf[this.p++] = b;
  }

  arrayHead(n: number): void {
    if (n < 16) this.buf[this.p++] = 0x90 | n;
    else if (n < 0x10000) {
      this.buf[this.p++] = 0xdc;
      this.p = this.buf.writeUInt16BE(n, this.p);
    } else {
      this.buf[this.p++] = 0xdd;
      this.p = this.buf.writeUInt32BE(n, this.p);
    }
  }

  mapHead(n: number): void {
    if (n < 16) this.buf[this.p++] = 0x80 | n;
    else {
      this.buf[this.p++] = 0xde;
      this.p = this.buf.writeUInt16BE(n, this.p);
    }
  }

  /**
   * A str with its minimal header. Short ASCII (ids, hashes, most topics and keys) is copied
   * here; otherwise the header is guessed from the UTF-16 length (a lower bound of the byte
   * length), the bytes written after it, and moved when the guess was short.
   */
  /** A map of string to string (message attributes). */
  strMap(m: Readonly<Record<string, string>>): void {
    let n = 0;
    for (const _ in m) n++;
    this.mapHead(n);
    for (const k in m) {
      this.str(k);
      this.str(m[k]!);
    }
  }

  str(s: string): void {
    const { buf } = this;
    const p = this.p;
    const n = s.length;
    if (n < 32) {
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p + 1 + i] = c;
      }
      if (i === n) {
        buf[p] = 0xa0 | n;
        this.p = p + 1 + n;
        return;
      }
    }
    const guess = strHeadSize(n);
    const bytes = buf.write(s, p + guess, 'utf8');
    const size = strHeadSize(bytes);
    if (size !== guess) buf.copyWithin(p + size, p + guess, p + guess + bytes);
    if (size === 1) buf[p] = 0xa0 | bytes;
    else if (size === 2) {
      buf[p] = 0xd9;
      buf[p + 1] = bytes;
    } else if (size === 3) {
      buf[p] = 0xda;
      buf.writeUInt16BE(bytes, p + 1);
    } else {
      buf[p] = 0xdb;
      buf.writeUInt32BE(bytes, p + 1);
    }
    this.p = p + size + bytes;
  }

  bin(b: Uint8Array): void {
    const n = b.length;
    if (n < 0x100) {
      this.buf[this.p++] = 0xc4;
      this.buf[this.p++] = n;
    } else if (n < 0x10000) {
      this.buf[this.p++] = 0xc5;
      this.p = this.buf.writeUInt16BE(n, this.p);
    } else {
      this.buf[this.p++] = 0xc6;
      this.p = this.buf.writeUInt32BE(n, this.p);
    }
    this.buf.set(b, this.p);
    this.p += n;
  }

  /** A non-negative integer as msgpack uint; float64 past 2^32, as msgpackr writes it. */
  uint(v: number): void {
    const { buf } = this;
    if (v < 0x80) buf[this.p++] = v;
    else if (v < 0x100) {
      buf[this.p++] = 0xcc;
      buf[this.p++] = v;
    } else if (v < 0x10000) {
      buf[this.p++] = 0xcd;
      this.p = buf.writeUInt16BE(v, this.p);
    } else if (v < 0x1_0000_0000) {
      buf[this.p++] = 0xce;
      this.p = buf.writeUInt32BE(v, this.p);
    } else {
      buf[this.p++] = 0xcb;
      this.p = buf.writeDoubleBE(v, this.p);
    }
  }
}

/** A map key's bytes (an ASCII name of fewer than 32 characters), made once. */
export function keyBytes(name: string): Buffer {
  return Buffer.from([0xa0 | name.length, ...Buffer.from(name, 'ascii')]);
}

/** Header size of a str of `n` UTF-8 bytes. */
function strHeadSize(n: number): number {
  return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}
