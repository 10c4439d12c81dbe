// Tensor handles: shape + dtype + backend-owned storage, reference-counted so reshaped views share storage.
// `tidy` disposes every tensor made inside a synchronous block except the ones it returns (as tfjs does).

import type { DType } from './dtype.js';

/** What a backend provides to the tensors it owns. */
export interface TensorOwner {
  readonly name: string;
  /** Release storage once no tensor refers to it. */
  free(storage: unknown): void;
  /** Snapshot the tensor's current contents (ops recorded later do not affect the result). */
  read(t: Tensor): Promise<Float32Array | Int32Array>;
}

interface Shared {
  refs: number;
  readonly storage: unknown;
}

let nextId = 1;
const scopes: Set<Tensor>[] = [];

export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  private shared: Shared | null;

  constructor(
    readonly owner: TensorOwner,
    readonly shape: readonly number[],
    readonly dtype: DType,
    storage: unknown,
    shared?: Shared,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
    this.shared = shared ?? { refs: 0, storage };
    this.shared.refs++;
    scopes.at(-1)?.add(this);
  }

  get storage(): unknown {
    if (!this.shared) throw new Error(`tensor #${this.id} [${this.shape}] used after dispose`);
    return this.shared.storage;
  }

  get disposed(): boolean {
    return this.shared === null;
  }

  /** Number of rows when viewed as 2-D [rows, lastDim]. */
  get rows(): number {
    return this.size / this.cols;
  }

  get cols(): number {
    return this.shape[this.shape.length - 1] ?? 1;
  }

  /** A view with another shape over the same storage (same element count). */
  reshape(shape: readonly number[]): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== this.size) throw new Error(`cannot reshape [${this.shape}] to [${shape}]`);
    return new Tensor(this.owner, shape, this.dtype, null, this.shared ?? undefined);
  }

  read(): Promise<Float32Array | Int32Array> {
    return this.owner.read(this);
  }

  async readF32(): Promise<Float32Array> {
    const d = await this.read();
    if (!(d instanceof Float32Array)) throw new Error(`tensor #${this.id} is ${this.dtype}, not float`);
    return d;
  }

  dispose(): void {
    const s = this.shared;
    if (!s) return;
    this.shared = null;
    if (--s.refs === 0) this.owner.free(s.storage);
  }
}

function collect(x: unknown, into: Set<Tensor>): void {
  if (x instanceof Tensor) into.add(x);
  else if (Array.isArray(x)) for (const v of x) collect(v, into);
  else if (x && typeof x === 'object' && !ArrayBuffer.isView(x)) for (const v of Object.values(x)) collect(v, into);
}

/** Run `fn`, then dispose every tensor it created except those reachable from its result. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const keepers = new Set<Tensor>();
  collect(result, keepers);
  for (const t of scope) if (!keepers.has(t)) t.dispose();
  // Returned tensors now belong to the enclosing scope.
  const outer = scopes.at(-1);
  if (outer) for (const t of keepers) if (scope.has(t)) outer.add(t);
  return result;
}

/** Exclude a tensor from the enclosing `tidy` (it outlives the block, e.g. a cache). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}
