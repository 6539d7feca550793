// A MAC as a number (48 bits fit a double exactly): a Map/Set key read from
// a frame without allocating a string.

/** The MAC at `data[offset..offset+6)` as a number. */
export function macKeyAt(data: Uint8Array, offset: number): number {
  return (
    data[offset]! * 0x10000000000 +
    data[offset + 1]! * 0x100000000 +
    (((data[offset + 2]! << 24) | (data[offset + 3]! << 16) | (data[offset + 4]! << 8) | data[offset + 5]!) >>> 0)
  );
}

/** formatMac's text form as the same number. */
export function macKeyOfText(text: string): number {
  return parseInt(text.replace(/[:-]/g, ''), 16);
}

export function formatMacKey(key: number): string {
  return key.toString(16).padStart(12, '0').match(/../g)!.join(':');
}
