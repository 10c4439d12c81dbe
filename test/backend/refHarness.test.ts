// The harness run on ref itself: proves every case executes and that a backend equals itself bit for bit.
import { describeOpSuite } from './opCases.js';
import { RefBackend } from '../../src/backend/ref/index.js';

describeOpSuite('ref', async () => new RefBackend());
