/**
 * Open leases in deadline order without an object per lease: one FIFO ring per visibility
 * value. Leases granted with the same visibility at non-decreasing times expire in the order
 * they were granted, so each ring is sorted by construction and the earliest deadline is at
 * the head of one of a few rings. A lease is three array cells (key, deadline, sequence) in
 * its ring, cleared in O(1) when the lease ends (`remove` with the handle `add` returned), so
 * nothing of an acknowledged lease outlives it and a young-generation GC has nothing to copy.
 *
 * A deadline that fits no ring goes to a small min-heap instead (the rare path: more distinct
 * visibilities open at once than MAX_RINGS, leases restored at a rebuild with no visibility,
 * a deadline before its ring's tail after the clock stepped back, or equal to it with a lower
 * sequence, as an EXTEND of an older lease can make).
 *
 * Ties between rings go to the lower sequence (the lease granted first). Sequences are the
 * caller's (a shard's integer lease sequence): positive, and unique among open leases.
 */

/** Rings at most; each is keyed by one visibility (ms) while it holds leases. */
export const MAX_RINGS = 32;
/** A ring lease's handle is position × RING_SLOTS + ring index (≥ 0); a heap entry's is ≤ -2. */
const RING_SLOTS = 64;
/** A handle that names no lease: `remove` of it does nothing. */
export const NO_HANDLE = -1;

export function isHeapHandle(handle: number): boolean {
  return handle < NO_HANDLE;
}

class Ring<K> {
  keys: Array<K | undefined>;
  dues: Float64Array;
  seqs: Float64Array;
  /** Physical index of the head. */
  head = 0;
  /** Slots from the head to the tail, cleared ones included. */
  count = 0;
  /** Absolute position of the head: a slot's position never changes while it is in the ring. */
  headPos = 0;
  /** Visibility this ring holds, NaN while unassigned. */
  visibility = Number.NaN;

  constructor(
    readonly index: number,
    capacity: number,
  ) {
    this.keys = new Array<K | undefined>(capacity);
    this.dues = new Float64Array(capacity);
    this.seqs = new Float64Array(capacity);
  }

  slotOf(pos: number): number {
    return (this.head + (pos - this.headPos)) % this.keys.length;
  }

  /** Whether a lease (due, seq) sorts at or after the tail, so pushing it keeps the ring sorted. */
  fitsAfterTail(due: number, seq: number): boolean {
    if (this.count === 0) return true;
    const tail = this.slotOf(this.headPos + this.count - 1);
    return due > this.dues[tail]! || (due === this.dues[tail]! && seq > this.seqs[tail]!);
  }

  push(key: K, due: number, seq: number): number {
    if (this.count === this.keys.length) this.grow();
    const pos = this.headPos + this.count;
    const at = this.slotOf(pos);
    this.keys[at] = key;
    this.dues[at] = due;
    this.seqs[at] = seq;
    this.count++;
    return pos;
  }

  /** Drops cleared slots at the head, so the head is a live lease or the ring is empty. */
  trim(): void {
    while (this.count > 0 && this.keys[this.head] === undefined) {
      this.head = (this.head + 1) % this.keys.length;
      this.headPos++;
      this.count--;
    }
    if (this.count === 0) {
      this.head = 0;
      this.headPos = 0;
    }
  }

  private grow(): void {
    const size = this.keys.length * 2;
    const keys = new Array<K | undefined>(size);
    const dues = new Float64Array(size);
    const seqs = new Float64Array(size);
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) % this.keys.length;
      keys[i] = this.keys[from];
      dues[i] = this.dues[from]!;
      seqs[i] = this.seqs[from]!;
    }
    this.keys = keys;
    this.dues = dues;
    this.seqs = seqs;
    this.head = 0;
  }
}

/** A binary min-heap of (due, seq) in parallel arrays: the overflow, ordered like the rings. */
class SeqHeap<K> {
  keys: K[] = [];
  dues: number[] = [];
  seqs: number[] = [];
  /** Each entry's own handle: an EXTEND re-adds a lease with its sequence, so the sequence does not name an entry. */
  handles: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  push(key: K, due: number, seq: number, handle: number): void {
    let i = this.keys.length;
    this.keys.push(key);
    this.dues.push(due);
    this.seqs.push(seq);
    this.handles.push(handle);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): void {
    const last = this.keys.length - 1;
    this.swap(0, last);
    this.keys.pop();
    this.dues.pop();
    this.seqs.pop();
    this.handles.pop();
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < last && this.less(l, m)) m = l;
      if (r < last && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private less(a: number, b: number): boolean {
    return this.dues[a]! < this.dues[b]! || (this.dues[a] === this.dues[b] && this.seqs[a]! < this.seqs[b]!);
  }

  private swap(a: number, b: number): void {
    const { keys, dues, seqs, handles } = this;
    [keys[a], keys[b]] = [keys[b]!, keys[a]!];
    [handles[a], handles[b]] = [handles[b]!, handles[a]!];
    [dues[a], dues[b]] = [dues[b]!, dues[a]!];
    [seqs[a], seqs[b]] = [seqs[b]!, seqs[a]!];
  }
}

export class LeaseRings<K> {
  private readonly rings: Array<Ring<K>> = [];
  private readonly byVisibility = new Map<number, Ring<K>>();
  /** The rare path; `heapLive` tells its open entries (by handle) from removed ones. */
  private readonly heap = new SeqHeap<K>();
  private readonly heapLive = new Set<number>();
  private nextHeapHandle = NO_HANDLE - 1;
  private live = 0;
  /** The sequence of the lease `takeDue` returned last. */
  takenSeq = 0;

  /** Open leases. */
  get size(): number {
    return this.live;
  }

  /**
   * Adds an open lease due at `due`, granted for `visibility` ms (undefined: not known, as for
   * a lease restored from the store). Returns the handle `remove` takes.
   */
  add(key: K, due: number, seq: number, visibility?: number): number {
    this.live++;
    const ring = visibility === undefined ? undefined : this.ringFor(visibility);
    if (ring === undefined || !ring.fitsAfterTail(due, seq)) {
      const handle = this.nextHeapHandle--;
      this.heap.push(key, due, seq, handle);
      this.heapLive.add(handle);
      return handle;
    }
    return ring.push(key, due, seq) * RING_SLOTS + ring.index;
  }

  /** Ends the lease `add` returned `handle` for (ACK, NACK, release, EXTEND's old deadline). */
  remove(handle: number, seq: number): void {
    if (handle === NO_HANDLE) return;
    if (isHeapHandle(handle)) {
      if (this.heapLive.delete(handle)) this.live--;
      return;
    }
    const ring = this.rings[handle % RING_SLOTS];
    const pos = Math.floor(handle / RING_SLOTS);
    if (ring === undefined || pos < ring.headPos || pos >= ring.headPos + ring.count) return;
    const at = ring.slotOf(pos);
    if (ring.keys[at] === undefined || ring.seqs[at] !== seq) return;
    ring.keys[at] = undefined;
    this.live--;
    ring.trim();
  }

  /** The earliest open deadline, or undefined when no lease is open. */
  peekDue(): number | undefined {
    this.trimHeap();
    let min = this.heap.size > 0 ? this.heap.dues[0] : undefined;
    for (const ring of this.rings) {
      if (ring.count === 0) continue;
      const due = ring.dues[ring.head]!;
      if (min === undefined || due < min) min = due;
    }
    return min;
  }

  /**
   * Takes the open lease with the earliest deadline if that deadline is ≤ now: returns its key
   * (its sequence in `takenSeq`), or undefined when none is due. Deadline order; ties to the
   * lower sequence.
   */
  takeDue(now: number): K | undefined {
    this.trimHeap();
    let best: Ring<K> | undefined;
    for (const ring of this.rings) {
      if (ring.count === 0) continue;
      const due = ring.dues[ring.head]!;
      if (due > now) continue;
      if (best === undefined || due < best.dues[best.head]! || (due === best.dues[best.head]! && ring.seqs[ring.head]! < best.seqs[best.head]!)) best = ring;
    }
    const heap = this.heap;
    if (heap.size > 0 && heap.dues[0]! <= now) {
      const due = heap.dues[0]!;
      const seq = heap.seqs[0]!;
      const ringDue = best === undefined ? Number.POSITIVE_INFINITY : best.dues[best.head]!;
      if (due < ringDue || (due === ringDue && seq < best!.seqs[best!.head]!)) {
        const key = heap.keys[0]!;
        this.heapLive.delete(heap.handles[0]!);
        heap.pop();
        this.live--;
        this.takenSeq = seq;
        return key;
      }
    }
    if (best === undefined) return undefined;
    const key = best.keys[best.head]!;
    this.takenSeq = best.seqs[best.head]!;
    best.keys[best.head] = undefined;
    this.live--;
    best.trim();
    return key;
  }

  /** The ring for `visibility`: its own, a free one re-keyed, or undefined when all are taken. */
  private ringFor(visibility: number): Ring<K> | undefined {
    const own = this.byVisibility.get(visibility);
    if (own !== undefined) return own;
    let ring = this.rings.find((r) => r.count === 0);
    if (ring === undefined) {
      if (this.rings.length >= MAX_RINGS) return undefined;
      ring = new Ring<K>(this.rings.length, 16);
      this.rings.push(ring);
    } else {
      this.byVisibility.delete(ring.visibility);
    }
    ring.visibility = visibility;
    this.byVisibility.set(visibility, ring);
    return ring;
  }

  private trimHeap(): void {
    while (this.heap.size > 0 && !this.heapLive.has(this.heap.handles[0]!)) this.heap.pop();
  }
}
