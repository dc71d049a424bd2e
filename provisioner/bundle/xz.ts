/**
 * A decoder of the `.xz` container with the LZMA2 filter (the only one Debian's `Packages.xz`
 * uses), so the native resolver reads Debian's `-updates` and `-security` indexes (published only
 * as .xz) without running `xz`: Node has no xz decoder. The well-kept npm package, @napi-rs/lzma
 * (1.4.5, a native addon), was tried in its place and refused two valid .xz files this decoder's
 * tests pack with the real xz: one with a SHA-256 check ("not yet implemented") and two
 * concatenated streams ("unexpected data after last XZ block"). Pure: bytes in, bytes out.
 *
 * Only bytes whose sha256 the signed InRelease vouches for reach it, and each block's integrity
 * check (CRC32 or CRC64) is verified on the output, so a decoder bug shows as an error, never as a
 * wrong index. Follows the .xz file format 1.1.0 and the LZMA decoder of the LZMA SDK (LzmaSpec).
 */

/** A malformed or unsupported .xz input. */
export class XzError extends Error {
  override readonly name = "XzError";
}

const CRC32_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function crc32(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC32_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// CRC64 (ECMA-182, reflected, as xz uses it) on two 32-bit halves.
const [CRC64_LO, CRC64_HI] = (() => {
  const lo = new Uint32Array(256);
  const hi = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let l = i;
    let h = 0;
    for (let k = 0; k < 8; k++) {
      const bit = l & 1;
      l = ((l >>> 1) | (h << 31)) >>> 0;
      h = h >>> 1;
      if (bit) {
        l = (l ^ 0xd7870f42) >>> 0;
        h = (h ^ 0xc96c5795) >>> 0;
      }
    }
    lo[i] = l;
    hi[i] = h;
  }
  return [lo, hi];
})();

function crc64(data: Uint8Array, start: number, end: number): [lo: number, hi: number] {
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  for (let i = start; i < end; i++) {
    const idx = (lo ^ data[i]!) & 0xff;
    lo = (((lo >>> 8) | (hi << 24)) ^ CRC64_LO[idx]!) >>> 0;
    hi = ((hi >>> 8) ^ CRC64_HI[idx]!) >>> 0;
  }
  return [(lo ^ 0xffffffff) >>> 0, (hi ^ 0xffffffff) >>> 0];
}

const u32le = (b: Uint8Array, i: number) => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;

/** A growable output buffer, which is also the LZMA dictionary. */
class Output {
  buf: Uint8Array;
  pos = 0;
  constructor(hint: number) {
    this.buf = new Uint8Array(Math.max(hint, 1 << 16));
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }
}

const PROB_INIT = 1024;

/** LZMA's range decoder over `input` from `pos`. */
class RangeDecoder {
  range = 0xffffffff;
  code = 0;
  constructor(
    readonly input: Uint8Array,
    public pos: number,
  ) {
    if (input[pos] !== 0) throw new XzError("corrupt LZMA data (range coder)");
    this.pos++;
    for (let i = 0; i < 4; i++) this.code = ((this.code << 8) | this.#byte()) >>> 0;
    if (this.code === this.range) throw new XzError("corrupt LZMA data (range coder)");
  }
  #byte(): number {
    if (this.pos >= this.input.length) throw new XzError("truncated LZMA data");
    return this.input[this.pos++]!;
  }
  #normalize(): void {
    if (this.range < 0x1000000) {
      this.range = (this.range << 8) >>> 0;
      this.code = ((this.code << 8) | this.#byte()) >>> 0;
    }
  }
  bit(probs: Uint16Array, i: number): number {
    const p = probs[i]!;
    const bound = (this.range >>> 11) * p;
    let bit: number;
    if (this.code < bound) {
      this.range = bound >>> 0;
      probs[i] = p + ((2048 - p) >>> 5);
      bit = 0;
    } else {
      this.range = (this.range - bound) >>> 0;
      this.code = (this.code - bound) >>> 0;
      probs[i] = p - (p >>> 5);
      bit = 1;
    }
    this.#normalize();
    return bit;
  }
  direct(n: number): number {
    let r = 0;
    for (let i = 0; i < n; i++) {
      this.range = this.range >>> 1;
      let b = 0;
      if (this.code >= this.range) {
        this.code = (this.code - this.range) >>> 0;
        b = 1;
      }
      r = r * 2 + b;
      this.#normalize();
    }
    return r;
  }
  tree(probs: Uint16Array, offset: number, bits: number): number {
    let m = 1;
    for (let i = 0; i < bits; i++) m = (m << 1) | this.bit(probs, offset + m);
    return m - (1 << bits);
  }
  reverseTree(probs: Uint16Array, offset: number, bits: number): number {
    let m = 1;
    let sym = 0;
    for (let i = 0; i < bits; i++) {
      const b = this.bit(probs, offset + m);
      m = (m << 1) | b;
      sym |= b << i;
    }
    return sym;
  }
}

/** Length decoder probabilities: choice, choice2, low[16][8], mid[16][8], high[256]. */
const LEN_SIZE = 2 + 16 * 8 + 16 * 8 + 256;
function decodeLen(rc: RangeDecoder, p: Uint16Array, posState: number): number {
  if (rc.bit(p, 0) === 0) return rc.tree(p, 2 + posState * 8, 3);
  if (rc.bit(p, 1) === 0) return 8 + rc.tree(p, 2 + 128 + posState * 8, 3);
  return 16 + rc.tree(p, 2 + 256, 8);
}

/** LZMA state that survives between LZMA2 chunks unless reset. */
class LzmaState {
  lc = 0;
  lp = 0;
  pb = 0;
  state = 0;
  reps = [0, 0, 0, 0];
  isMatch = new Uint16Array(192);
  isRep = new Uint16Array(12);
  isRepG0 = new Uint16Array(12);
  isRepG1 = new Uint16Array(12);
  isRepG2 = new Uint16Array(12);
  isRep0Long = new Uint16Array(192);
  posSlot = new Uint16Array(4 * 64);
  posSpecial = new Uint16Array(115);
  align = new Uint16Array(16);
  len = new Uint16Array(LEN_SIZE);
  repLen = new Uint16Array(LEN_SIZE);
  literal = new Uint16Array(0x300);

  setProps(byte: number): void {
    if (byte > 224) throw new XzError("corrupt LZMA2 properties");
    this.lc = byte % 9;
    const d = Math.floor(byte / 9);
    this.lp = d % 5;
    this.pb = Math.floor(d / 5);
    if (this.lc + this.lp > 4) throw new XzError("corrupt LZMA2 properties (lc + lp > 4)");
    this.literal = new Uint16Array(0x300 << (this.lc + this.lp));
  }

  reset(): void {
    this.state = 0;
    this.reps = [0, 0, 0, 0];
    for (const a of [this.isMatch, this.isRep, this.isRepG0, this.isRepG1, this.isRepG2, this.isRep0Long, this.posSlot, this.posSpecial, this.align, this.len, this.repLen, this.literal]) a.fill(PROB_INIT);
  }
}

/** Decodes one LZMA chunk of `size` output bytes; `dictStart` is where the dictionary began. */
function decodeLzmaChunk(rc: RangeDecoder, s: LzmaState, out: Output, size: number, dictStart: number): void {
  out.ensure(size);
  const buf = out.buf;
  const end = out.pos + size;
  const pbMask = (1 << s.pb) - 1;
  const lpMask = (1 << s.lp) - 1;
  let pos = out.pos;
  let state = s.state;
  let [rep0, rep1, rep2, rep3] = s.reps as [number, number, number, number];
  while (pos < end) {
    const total = pos - dictStart;
    const posState = total & pbMask;
    if (rc.bit(s.isMatch, (state << 4) + posState) === 0) {
      const prev = pos > dictStart ? buf[pos - 1]! : 0;
      const base = 0x300 * (((total & lpMask) << s.lc) + (prev >>> (8 - s.lc)));
      let sym = 1;
      if (state >= 7) {
        if (rep0 >= total) throw new XzError("corrupt LZMA data (distance)");
        let match = buf[pos - rep0 - 1]!;
        while (sym < 0x100) {
          const mb = (match >>> 7) & 1;
          match <<= 1;
          const b = rc.bit(s.literal, base + ((1 + mb) << 8) + sym);
          sym = (sym << 1) | b;
          if (mb !== b) break;
        }
      }
      while (sym < 0x100) sym = (sym << 1) | rc.bit(s.literal, base + sym);
      buf[pos++] = sym - 0x100;
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
      continue;
    }
    let len: number;
    if (rc.bit(s.isRep, state) !== 0) {
      if (total === 0) throw new XzError("corrupt LZMA data (repeat before any data)");
      if (rc.bit(s.isRepG0, state) === 0) {
        if (rc.bit(s.isRep0Long, (state << 4) + posState) === 0) {
          state = state < 7 ? 9 : 11;
          buf[pos] = buf[pos - rep0 - 1]!;
          pos++;
          continue;
        }
      } else {
        let dist: number;
        if (rc.bit(s.isRepG1, state) === 0) {
          dist = rep1;
        } else {
          if (rc.bit(s.isRepG2, state) === 0) {
            dist = rep2;
          } else {
            dist = rep3;
            rep3 = rep2;
          }
          rep2 = rep1;
        }
        rep1 = rep0;
        rep0 = dist;
      }
      len = decodeLen(rc, s.repLen, posState);
      state = state < 7 ? 8 : 11;
    } else {
      rep3 = rep2;
      rep2 = rep1;
      rep1 = rep0;
      len = decodeLen(rc, s.len, posState);
      state = state < 7 ? 7 : 10;
      const lenState = len < 3 ? len : 3;
      const slot = rc.tree(s.posSlot, lenState * 64, 6);
      if (slot < 4) {
        rep0 = slot;
      } else {
        const direct = (slot >>> 1) - 1;
        let dist = (2 | (slot & 1)) * 2 ** direct;
        if (slot < 14) {
          dist += rc.reverseTree(s.posSpecial, dist - slot, direct);
        } else {
          dist += rc.direct(direct - 4) * 16;
          dist += rc.reverseTree(s.align, 0, 4);
        }
        if (dist === 0xffffffff) throw new XzError("unexpected LZMA end marker in an LZMA2 chunk");
        rep0 = dist;
      }
    }
    len += 2;
    if (rep0 >= pos - dictStart) throw new XzError("corrupt LZMA data (distance beyond the dictionary)");
    if (pos + len > end) throw new XzError("corrupt LZMA data (match beyond the chunk)");
    for (let i = 0; i < len; i++, pos++) buf[pos] = buf[pos - rep0 - 1]!;
  }
  out.pos = pos;
  s.state = state;
  s.reps = [rep0, rep1, rep2, rep3];
}

/** Decodes LZMA2 data from `input` at `pos` into `out`; returns the position after its end byte. */
function decodeLzma2(input: Uint8Array, pos: number, out: Output): number {
  const s = new LzmaState();
  let dictStart = -1;
  let needProps = true;
  for (;;) {
    if (pos >= input.length) throw new XzError("truncated LZMA2 data");
    const control = input[pos++]!;
    if (control === 0x00) return pos;
    if (control === 0x01 || control === 0x02) {
      if (control === 0x01) dictStart = out.pos;
      if (dictStart < 0) throw new XzError("corrupt LZMA2 data (no dictionary reset first)");
      const size = ((input[pos]! << 8) | input[pos + 1]!) + 1;
      pos += 2;
      if (pos + size > input.length) throw new XzError("truncated LZMA2 data");
      out.ensure(size);
      out.buf.set(input.subarray(pos, pos + size), out.pos);
      out.pos += size;
      pos += size;
      continue;
    }
    if (control < 0x80) throw new XzError(`corrupt LZMA2 data (control byte 0x${control.toString(16)})`);
    const size = ((control & 0x1f) << 16) + (input[pos]! << 8) + input[pos + 1]! + 1;
    const packed = (input[pos + 2]! << 8) + input[pos + 3]! + 1;
    pos += 4;
    const reset = (control >>> 5) & 3;
    if (reset === 3) dictStart = out.pos;
    if (dictStart < 0) throw new XzError("corrupt LZMA2 data (no dictionary reset first)");
    if (reset >= 2) {
      s.setProps(input[pos++]!);
      needProps = false;
    } else if (needProps) {
      throw new XzError("corrupt LZMA2 data (no properties)");
    }
    if (reset >= 1) s.reset();
    if (pos + packed > input.length) throw new XzError("truncated LZMA2 data");
    const rc = new RangeDecoder(input, pos);
    decodeLzmaChunk(rc, s, out, size, dictStart);
    if (rc.pos > pos + packed) throw new XzError("corrupt LZMA2 data (chunk overran its compressed size)");
    pos += packed;
  }
}

/** Reads an xz variable-length integer at `pos`: [value, next position]. */
function varint(b: Uint8Array, pos: number): [number, number] {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    const byte = b[pos++];
    if (byte === undefined) throw new XzError("truncated .xz header");
    v += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return [v, pos];
  }
  throw new XzError("corrupt .xz integer");
}

const CHECK_SIZES = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];
const MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

/**
 * Decompresses a `.xz` file (one or more streams, LZMA2 blocks, check none, CRC32, CRC64 or
 * SHA-256; CRC32 and CRC64 are verified).
 */
export function xzDecompress(input: Uint8Array): Buffer {
  const out = new Output(input.length * 6);
  let pos = 0;
  while (pos < input.length) {
    // Stream padding (null bytes, multiples of 4) between streams.
    if (pos > 0 && input[pos] === 0) {
      pos += 4;
      continue;
    }
    if (pos + 12 > input.length || !MAGIC.every((m, i) => input[pos + i] === m)) throw new XzError("not an .xz file");
    if (crc32(input, pos + 6, pos + 8) !== u32le(input, pos + 8)) throw new XzError("corrupt .xz stream header");
    const check = input[pos + 7]! & 0x0f;
    const checkSize = CHECK_SIZES[check]!;
    pos += 12;
    for (;;) {
      const headerByte = input[pos];
      if (headerByte === undefined) throw new XzError("truncated .xz file");
      if (headerByte === 0x00) break; // the index
      const headerSize = (headerByte + 1) * 4;
      const h = pos;
      if (crc32(input, h, h + headerSize - 4) !== u32le(input, h + headerSize - 4)) throw new XzError("corrupt .xz block header");
      const flags = input[h + 1]!;
      let p = h + 2;
      if (flags & 0x40) p = varint(input, p)[1];
      if (flags & 0x80) p = varint(input, p)[1];
      const filters = (flags & 3) + 1;
      for (let f = 0; f < filters; f++) {
        const [id, p1] = varint(input, p);
        const [propSize, p2] = varint(input, p1);
        if (id !== 0x21 || filters !== 1) throw new XzError(`unsupported .xz filter 0x${id.toString(16)} (only LZMA2)`);
        p = p2 + propSize;
      }
      const start = out.pos;
      pos = decodeLzma2(input, h + headerSize, out);
      while ((pos - h) % 4 !== 0) pos++; // block padding
      if (check === 1 && crc32(out.buf, start, out.pos) !== u32le(input, pos)) throw new XzError("corrupt .xz data (CRC32 mismatch)");
      if (check === 4) {
        const [lo, hi] = crc64(out.buf, start, out.pos);
        if (lo !== u32le(input, pos) || hi !== u32le(input, pos + 4)) throw new XzError("corrupt .xz data (CRC64 mismatch)");
      }
      pos += checkSize;
    }
    // Skip the index and the stream footer: the index's size is in the footer's backward size.
    let footer = pos;
    // The index: indicator, record count, records (two varints each), padding, CRC32.
    let [records, q] = varint(input, pos + 1);
    for (; records > 0; records--) {
      q = varint(input, q)[1];
      q = varint(input, q)[1];
    }
    while ((q - pos) % 4 !== 0) q++;
    footer = q + 4;
    if (input[footer + 10] !== 0x59 || input[footer + 11] !== 0x5a) throw new XzError("corrupt .xz stream footer");
    pos = footer + 12;
  }
  return Buffer.from(out.buf.buffer, out.buf.byteOffset, out.pos);
}
