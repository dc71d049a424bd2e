// Does not prove every .xz feature: only LZMA2 blocks are supported (what Debian's Packages.xz use); each case is compared with the real xz's output.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { XzError, xzDecompress } from "../../provisioner/bundle/xz";

const hasXz = spawnSync("xz", ["--version"]).status === 0;
const xz = (data: Buffer, args: string[] = []) => execFileSync("xz", ["-c", ...args], { input: data, maxBuffer: 1 << 28 });

/** Text like a Packages index: repetitive, with long matches and literals. */
function packagesLike(n: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(`Package: lib${i.toString(36)}-dev\nVersion: ${i % 7}.${i % 13}-${i % 3}+deb12u${i % 5}\nArchitecture: amd64\nDepends: libc6 (>= 2.34), lib${(i * 7).toString(36)}\nSHA256: ${((i * 2654435761) >>> 0).toString(16).repeat(8).slice(0, 64)}\n`);
  }
  return Buffer.from(lines.join("\n"));
}

describe.skipIf(!hasXz)("xz decoder (against the xz program)", () => {
  it.each([
    ["empty", Buffer.alloc(0), []],
    ["one byte", Buffer.from("x"), []],
    ["a Packages-like text, default preset", packagesLike(3000), []],
    ["the same, -9e", packagesLike(3000), ["-9e"]],
    ["incompressible bytes (LZMA2 uncompressed chunks)", randomBytes(300_000), []],
    ["several blocks and CRC32", packagesLike(3000), ["--block-size=20000", "--check=crc32"]],
    ["SHA-256 check (not verified) and no check", packagesLike(500), ["--check=sha256"]],
    ["no check", packagesLike(500), ["--check=none"]],
    ["lc=0 lp=2 pb=0", packagesLike(2000), ["--lzma2=preset=6,lc=0,lp=2,pb=0"]],
    ["lc=4 pb=4", packagesLike(2000), ["--lzma2=preset=1,lc=4,pb=4"]],
  ] as const)("%s", (_name, data, args) => {
    expect(xzDecompress(xz(data, [...args])).equals(data)).toBe(true);
  });

  it("two concatenated streams", () => {
    const a = packagesLike(100);
    const b = Buffer.from("second stream\n");
    expect(xzDecompress(Buffer.concat([xz(a), xz(b)])).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it("random inputs mixing text and bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...["Package: ", "Version: 1.0\n", "Depends: libc6\n"].map((s) => new Uint8Array(Buffer.from(s))))), { maxLength: 200 }), (parts) => {
        const data = Buffer.concat(parts.map((p) => Buffer.from(p)));
        expect(xzDecompress(xz(data)).equals(data)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it("refuses a corrupt file: a changed byte fails the LZMA decoding or the CRC64", () => {
    const data = packagesLike(2000);
    const packed = xz(data);
    for (const at of [40, Math.floor(packed.length / 2), packed.length - 40]) {
      const bad = Buffer.from(packed);
      bad[at] = bad[at]! ^ 0x10;
      expect(() => xzDecompress(bad), `byte ${at}`).toThrow(XzError);
    }
    expect(() => xzDecompress(Buffer.from("not xz at all"))).toThrow("not an .xz file");
  });

  it("refuses a filter other than LZMA2", () => {
    expect(() => xzDecompress(xz(packagesLike(100), ["--x86", "--lzma2"]))).toThrow("unsupported .xz filter 0x4 (only LZMA2)");
  });
});
