// Checks captured tunnel bytes for leaks: a host name, or any 16-byte run of a file's plaintext.

/** True if any 16-byte run of `plaintext` appears anywhere in `captured`. */
export function containsAnyRunOf(captured: Uint8Array, plaintext: Uint8Array, runBytes = 16): boolean {
  // Any 16-byte run of the plaintext contains a whole 8-byte block starting at a multiple of 8. So: index the
  // plaintext's aligned 8-byte blocks, slide over every position of the capture, and confirm candidates exactly.
  const blockBytes = runBytes / 2;
  const blocks = new Map<bigint, number[]>();
  const plainView = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  for (let offset = 0; offset + blockBytes <= plaintext.length; offset += blockBytes) {
    const key = plainView.getBigUint64(offset);
    const list = blocks.get(key);
    if (list) list.push(offset);
    else blocks.set(key, [offset]);
  }
  const capturedView = new DataView(captured.buffer, captured.byteOffset, captured.byteLength);
  for (let position = 0; position + blockBytes <= captured.length; position++) {
    const offsets = blocks.get(capturedView.getBigUint64(position));
    if (!offsets) continue;
    for (const offset of offsets) {
      // The block sits somewhere inside a 16-byte run: try every alignment of the run around it.
      for (let shift = 0; shift <= runBytes - blockBytes; shift++) {
        const plainStart = offset - shift;
        const capStart = position - shift;
        if (plainStart < 0 || capStart < 0 || plainStart + runBytes > plaintext.length || capStart + runBytes > captured.length) continue;
        let equal = true;
        for (let i = 0; i < runBytes && equal; i++) equal = plaintext[plainStart + i] === captured[capStart + i];
        if (equal) return true;
      }
    }
  }
  return false;
}

export function containsText(captured: Uint8Array, text: string): boolean {
  return Buffer.from(captured.buffer, captured.byteOffset, captured.byteLength).includes(Buffer.from(text, 'utf8'));
}
