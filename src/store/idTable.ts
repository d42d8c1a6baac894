/**
 * The thread ids of the file store's index, without a JavaScript string or map entry per thread:
 * their UTF-8 bytes in one growing buffer, and an open-addressing hash table from id to slot in a
 * typed array. With a million threads the heap then holds a few objects instead of two million,
 * which keeps full garbage collections short (a string and a map entry per thread made each one
 * take some 150 ms, a pause every request waiting on it would see).
 *
 * A removed id's bytes stay in the buffer until it is full: then, when removed ids hold half of it,
 * the live ids move together into a buffer of the same size instead of a bigger one (a store whose
 * threads are created and deleted keeps a buffer for the ids it holds, not every id it ever held).
 * The hash table's rehash drops removed entries likewise, at the same size unless the live ids need more.
 */
export class IdTable {
  #bytes = Buffer.allocUnsafe(1 << 16);
  #used = 0;
  /** Bytes of removed ids below {@link #used}. */
  #dead = 0;
  #start = new Int32Array(1024);
  #length = new Uint8Array(1024);
  /** Slot + 1 per bucket; 0 empty, -1 a removed entry. */
  #table = new Int32Array(2048);
  #count = 0;
  #tombstones = 0;

  /** Number of ids. */
  get size(): number {
    return this.#count;
  }

  /** Bytes of the id buffer in use, removed ids' included. */
  get bytesUsed(): number {
    return this.#used;
  }

  /** Buckets of the hash table, removed entries' included. */
  get buckets(): number {
    return this.#table.length;
  }

  /** The slot of `id`, or -1. */
  find(id: string): number {
    const mask = this.#table.length - 1;
    for (let at = hashOf(id) & mask; ; at = (at + 1) & mask) {
      const entry = this.#table[at]!;
      if (entry === 0) return -1;
      if (entry > 0 && this.#equals(entry - 1, id)) return entry - 1;
    }
  }

  /** Records `id` at `slot` (not present yet). Ids are at most 255 bytes (thread ids are 200). */
  add(id: string, slot: number): void {
    if (slot >= this.#start.length) this.#growSlots(Math.max(slot + 1, this.#start.length * 2));
    const bytes = Buffer.byteLength(id);
    if (bytes > 255) throw new RangeError(`thread id of ${bytes} bytes`);
    if (this.#used + bytes > this.#bytes.length) this.#makeRoom(bytes);
    this.#bytes.write(id, this.#used, 'utf8');
    this.#start[slot] = this.#used;
    this.#length[slot] = bytes;
    this.#used += bytes;
    if ((this.#count + this.#tombstones + 1) * 2 > this.#table.length) this.#rehash();
    this.#insert(id, slot);
    this.#count++;
  }

  /** Forgets `id` (its bytes stay in the buffer until it is full; `idAt` of its slot is then ''). */
  remove(id: string): void {
    const mask = this.#table.length - 1;
    for (let at = hashOf(id) & mask; ; at = (at + 1) & mask) {
      const entry = this.#table[at]!;
      if (entry === 0) return;
      if (entry > 0 && this.#equals(entry - 1, id)) {
        this.#table[at] = -1;
        this.#dead += this.#length[entry - 1]!;
        this.#length[entry - 1] = 0;
        this.#count--;
        this.#tombstones++;
        return;
      }
    }
  }

  /** The id at `slot` (a new string each call). */
  idAt(slot: number): string {
    const start = this.#start[slot]!;
    return this.#bytes.toString('utf8', start, start + this.#length[slot]!);
  }

  #insert(id: string, slot: number): void {
    const mask = this.#table.length - 1;
    let at = hashOf(id) & mask;
    while (this.#table[at]! > 0) at = (at + 1) & mask;
    if (this.#table[at] === -1) this.#tombstones--;
    this.#table[at] = slot + 1;
  }

  #rehash(): void {
    const old = this.#table;
    let capacity = this.#table.length;
    while ((this.#count + 1) * 2 > capacity / 2) capacity *= 2;
    this.#table = new Int32Array(capacity);
    this.#tombstones = 0;
    for (const entry of old) if (entry > 0) this.#insert(this.idAt(entry - 1), entry - 1);
  }

  /** Room for `bytes` more at the end: the live ids moved together if removed ones hold half, else a bigger buffer. */
  #makeRoom(bytes: number): void {
    if (this.#dead * 2 >= this.#used) this.#compact();
    if (this.#used + bytes <= this.#bytes.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#bytes.length * 2, this.#used + bytes));
    this.#bytes.copy(bigger, 0, 0, this.#used);
    this.#bytes = bigger;
  }

  /** Copies the live ids, in bucket order, to the start of a buffer of the same size. */
  #compact(): void {
    const old = this.#bytes;
    this.#bytes = Buffer.allocUnsafe(old.length);
    let used = 0;
    for (const entry of this.#table) {
      if (entry <= 0) continue;
      const start = this.#start[entry - 1]!;
      const length = this.#length[entry - 1]!;
      old.copy(this.#bytes, used, start, start + length);
      this.#start[entry - 1] = used;
      used += length;
    }
    this.#used = used;
    this.#dead = 0;
  }

  #growSlots(capacity: number): void {
    const start = new Int32Array(capacity);
    start.set(this.#start);
    this.#start = start;
    const length = new Uint8Array(capacity);
    length.set(this.#length);
    this.#length = length;
  }

  /** Whether the id at `slot` is `id`, without making a string when the id is ASCII. */
  #equals(slot: number, id: string): boolean {
    const start = this.#start[slot]!;
    const length = this.#length[slot]!;
    if (length !== id.length) return length >= id.length && this.idAt(slot) === id;
    for (let i = 0; i < length; i++) {
      const code = id.charCodeAt(i);
      if (code > 0x7f) return this.idAt(slot) === id;
      if (this.#bytes[start + i] !== code) return false;
    }
    return true;
  }
}

/** FNV-1a over the UTF-16 code units. */
function hashOf(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}
