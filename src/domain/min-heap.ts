/**
 * A binary min-heap of deadlines. Entries are never removed from the middle: a stale entry
 * (lease settled, deadline moved) is skipped when it reaches the top, which keeps every
 * operation O(log n) without an index.
 */
export interface Deadline<T> {
  due: number;
  value: T;
}

export class MinHeap<T> {
  private readonly heap: Array<Deadline<T>> = [];

  get size(): number {
    return this.heap.length;
  }

  push(due: number, value: T): void {
    const heap = this.heap;
    heap.push({ due, value });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.due <= heap[i]!.due) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  peek(): Deadline<T> | undefined {
    return this.heap[0];
  }

  pop(): Deadline<T> | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.due < heap[m]!.due) m = l;
        if (r < heap.length && heap[r]!.due < heap[m]!.due) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  }
}
