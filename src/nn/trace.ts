// Named intermediates: model code reports tensors under the golden keys (`hidden_states.{i}`, `visual.*`), so a
// parity test can name the first layer that diverges. A no-op unless the caller passes a hook.
import type { Tensor } from '../tensor/tensor.js';

export type Trace = (name: string, t: Tensor) => void;
export const noTrace: Trace = () => {};
